package sts

import (
	"crypto/des"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stsfleet/stsfleet/protocol/misty1"
)

// vector is one entry of testdata/vectors.json, the published test vectors.
type vector struct {
	Kind     string          `json:"kind"`
	Inputs   json.RawMessage `json:"inputs"`
	Expected json.RawMessage `json:"expected"`
}

// vectorInputs holds every input field any vector kind uses.
type vectorInputs struct {
	BytesHex       string          `json:"bytes_hex"`
	Append01       bool            `json:"append_0x01"`
	DecoderKeyHex  string          `json:"decoder_key_hex"`
	EncryptKeyHex  string          `json:"encrypting_decoder_key_hex"`
	NewDecoderKey  string          `json:"new_decoder_key_hex"`
	DataBlockHex   string          `json:"data_block_hex"`
	TokenClass     int             `json:"token_class"`
	Subclass       int             `json:"subclass"`
	RND            int             `json:"rnd"`
	TID            uint32          `json:"tid"`
	Field16Hex     string          `json:"field16_hex"`
	Payload44Hex   string          `json:"payload44_hex"`
	Fields         string          `json:"fields"`
	Cipher         string          `json:"cipher"`
	STATables      string          `json:"sta_tables"`
	Derivation     *derivation     `json:"decoder_key_derivation"`
	VendingKeyHex  string          `json:"vending_key_hex"`
	KeyType        uint8           `json:"key_type"`
	SGC            string          `json:"sgc"`
	TariffIndex    string          `json:"tariff_index"`
	KRN            uint8           `json:"krn"`
	MeterPAN       string          `json:"meter_pan"`
	IIN            string          `json:"iin"`
	IAIN           string          `json:"iain_drn"`
	DRN            string          `json:"drn"`
	BaseDate       string          `json:"base_date"`
	EA             string          `json:"ea"`
	Control36Hex   string          `json:"control36_hex"`
	Control28Hex   string          `json:"control28_hex"`
	MfrCode        uint16          `json:"mfr_code"`
	Token20        string          `json:"token_20"`
	ValueBaseUnits uint64          `json:"value_in_base_units"`
	IssueTime      string          `json:"issue_time"`
	KEN            *int            `json:"ken"`
	Digits         string          `json:"digits"`
	KeyHex         string          `json:"key_hex"`
	PlaintextHex   string          `json:"plaintext_hex"`
	NewKey         json.RawMessage `json:"new_key"`
}

type derivation struct {
	DKGA          string `json:"dkga"`
	VendingKeyHex string `json:"vending_key_hex"`
	KeyType       uint8  `json:"key_type"`
	SGC           string `json:"sgc"`
	TariffIndex   string `json:"tariff_index"`
	KRN           uint8  `json:"krn"`
	MeterPAN      string `json:"meter_pan"`
	BaseDate      string `json:"base_date"`
	EA            string `json:"ea"`
}

type vectorExpected struct {
	CRCHex          string `json:"crc_hex"`
	CiphertextHex   string `json:"ciphertext_hex"`
	Token66Hex      string `json:"token_66bit_hex"`
	Token20         string `json:"token_20"`
	PANBlockHex     string `json:"pan_block_hex"`
	ControlBlockHex string `json:"control_block_hex"`
	DecoderKeyHex   string `json:"decoder_key_hex"`
	ControlCorrect  string `json:"control_block_hex_correct"`
	DecoderCorrect  string `json:"decoder_key_hex_correct"`
	HMACMessageHex  string `json:"hmac_message_hex"`
	DataBlockHex    string `json:"data_block_hex"`
	Field16Hex      string `json:"field16_hex"`
	Exponent        int    `json:"exponent"`
	Mantissa        int    `json:"mantissa"`
	DecodedUnits    uint64 `json:"decoded_base_units"`
	TID             uint32 `json:"tid"`
	KENByte         int    `json:"ken_byte"`
	TIDMSB8         *int   `json:"tid_msb8"`
	Result          string `json:"result"`
	CheckDigit      int    `json:"check_digit"`
	SENibble        int    `json:"se_nibble"`
	CRCCHex         string `json:"crc_c_hex"`
	CRCCValid       bool   `json:"crc_c_valid"`
	TokenClass      int    `json:"token_class"`
	Subclass        int    `json:"subclass"`
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	data, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(data, &vs); err != nil {
		t.Fatal(err)
	}
	return vs
}

// productionTables returns the tables named by STSFLEET_STA_TABLES when they
// are the production set, or nil.
func productionTables(t *testing.T) *Tables {
	t.Helper()
	path := os.Getenv(TablesEnv)
	if path == "" {
		return nil
	}
	tab, err := LoadTables(path)
	if err != nil {
		t.Fatalf("%s: %v", TablesEnv, err)
	}
	if tab.Name() != "production" {
		t.Fatalf("%s names tables with fingerprint %s, not the production set",
			TablesEnv, tab.Fingerprint())
	}
	return tab
}

func hex64(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return v
}

func hexBytes(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return b
}

// TestVectors runs every published vector. Tokens encrypted under the
// licensed production STA tables are checked at the block level, and in
// full when STSFLEET_STA_TABLES names those tables.
func TestVectors(t *testing.T) {
	prod := productionTables(t)
	counts := map[string]int{}
	for i, v := range loadVectors(t) {
		counts[v.Kind]++
		name := fmt.Sprintf("%03d_%s", i, v.Kind)
		t.Run(name, func(t *testing.T) {
			var in vectorInputs
			var want vectorExpected
			if err := json.Unmarshal(v.Inputs, &in); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(v.Expected, &want); err != nil {
				t.Fatal(err)
			}
			check, ok := vectorChecks[v.Kind]
			if !ok {
				t.Fatalf("no check for vector kind %q", v.Kind)
			}
			check(t, &in, &want, prod)
		})
	}
	if len(counts) != len(vectorChecks) {
		t.Errorf("vector kinds seen %d, checks %d", len(counts), len(vectorChecks))
	}
}

type vectorCheck func(t *testing.T, in *vectorInputs, want *vectorExpected, prod *Tables)

var vectorChecks = map[string]vectorCheck{
	"crc16":                        checkCRC,
	"crc16_currency":               checkCRC,
	"sta_encrypt_sample_tables":    checkSTASample,
	"dkga02":                       checkDKGA02,
	"dkga_control_block":           checkControlBlock,
	"dkga_pan_block":               checkPANBlock,
	"dkga02_derived_illustration":  checkDKGA02Illustration,
	"dkga04":                       checkDKGA04,
	"token_transfer_credit_sta":    checkTIDToken,
	"token_class2_sta":             checkTIDToken,
	"token_transfer_credit_misty1": checkTIDToken,
	"token_key_change_sta":         checkKeyChangeToken,
	"token_key_change_misty1":      checkKeyChangeToken,
	"token_class1_test_display":    checkTestToken,
	"token_decode_currency_sta":    checkCurrencyDecode,
	"amount_encoding":              checkAmount,
	"tid":                          checkTID,
	"ken_check":                    checkKEN,
	"luhn_check_digit":             checkLuhn,
	"misty1_block":                 checkMISTY1Block,
	"des_block":                    checkDESBlock,
}

func checkCRC(t *testing.T, in *vectorInputs, want *vectorExpected, _ *Tables) {
	data := hexBytes(t, in.BytesHex)
	if in.Append01 {
		data = append(data, 1)
	}
	if got := fmt.Sprintf("%04X", CRCOfBytes(data)); got != want.CRCHex {
		t.Errorf("CRC = %s, want %s", got, want.CRCHex)
	}
	// The same value through the token path: the 7 bytes are class ‖ 48 bits.
	raw := hex64(t, in.BytesHex)
	class, block := Class(raw>>48), raw<<16
	got := CRC(class, block)
	if in.Append01 {
		got = CRCCurrency(class, block)
	}
	if fmt.Sprintf("%04X", got) != want.CRCHex {
		t.Errorf("token CRC = %04X, want %s", got, want.CRCHex)
	}
}

func checkSTASample(t *testing.T, in *vectorInputs, want *vectorExpected, _ *Tables) {
	s := NewSTA(hex64(t, in.DecoderKeyHex), SampleTables())
	plain := hex64(t, in.DataBlockHex)
	c := s.EncryptBlock(plain)
	if got := fmt.Sprintf("%016X", c); got != want.CiphertextHex {
		t.Fatalf("ciphertext = %s, want %s", got, want.CiphertextHex)
	}
	if got := s.DecryptBlock(c); got != plain {
		t.Errorf("decrypt = %016X, want %016X", got, plain)
	}
	tok := MakeToken(Class(in.TokenClass), c)
	if got := fmt.Sprintf("%X%016X", tok.Hi, tok.Lo); got != want.Token66Hex {
		t.Errorf("66-bit = %s, want %s", got, want.Token66Hex)
	}
	if tok.String() != want.Token20 {
		t.Errorf("token = %s, want %s", tok, want.Token20)
	}
}

// splitPAN splits an 18-digit MeterPAN into IIN and IAIN: a 6-digit IIN
// 600727 with an 11-digit IAIN, otherwise a 4-digit IIN with 13 digits.
func splitPAN(pan string) (iin, iain string) {
	if strings.HasPrefix(pan, "600727") {
		return pan[:6], pan[6:17]
	}
	return pan[:4], pan[4:17]
}

func tariff(t *testing.T, s string) uint8 {
	t.Helper()
	v, err := strconv.ParseUint(s, 10, 8)
	if err != nil || v > 99 {
		t.Fatalf("tariff index %q", s)
	}
	return uint8(v)
}

func derive(t *testing.T, d *derivation) DerivedKey {
	t.Helper()
	dkga, err := ParseDKGA(d.DKGA)
	if err != nil {
		t.Fatal(err)
	}
	iin, drn := splitPAN(d.MeterPAN)
	p := KeyParams{DKGA: dkga, EA: EA07, KeyType: d.KeyType, SGC: d.SGC,
		TariffIndex: tariff(t, d.TariffIndex), KRN: d.KRN, IIN: iin, DRN: drn}
	if d.EA != "" {
		if p.EA, err = ParseEA(d.EA); err != nil {
			t.Fatal(err)
		}
	}
	if d.BaseDate != "" {
		if p.BaseDate, err = ParseBaseDate(d.BaseDate); err != nil {
			t.Fatal(err)
		}
	}
	k, err := DeriveKey(hexBytes(t, d.VendingKeyHex), p)
	if err != nil {
		t.Fatal(err)
	}
	if k.MeterPAN != d.MeterPAN {
		t.Errorf("meter PAN = %s, want %s", k.MeterPAN, d.MeterPAN)
	}
	return k
}

func checkDKGA02(t *testing.T, in *vectorInputs, want *vectorExpected, _ *Tables) {
	k := derive(t, &derivation{DKGA: "02", VendingKeyHex: in.VendingKeyHex, KeyType: in.KeyType,
		SGC: in.SGC, TariffIndex: in.TariffIndex, KRN: in.KRN, MeterPAN: in.MeterPAN})
	if got := fmt.Sprintf("%016X", k.PANBlock); got != want.PANBlockHex {
		t.Errorf("PAN block = %s, want %s", got, want.PANBlockHex)
	}
	if got := fmt.Sprintf("%016X", k.ControlBlock); got != want.ControlBlockHex {
		t.Errorf("control block = %s, want %s", got, want.ControlBlockHex)
	}
	if got := fmt.Sprintf("%X", k.Key); got != want.DecoderKeyHex {
		t.Errorf("decoder key = %s, want %s", got, want.DecoderKeyHex)
	}
}

func checkControlBlock(t *testing.T, in *vectorInputs, want *vectorExpected, _ *Tables) {
	got := ControlBlock(in.KeyType, in.SGC, tariff(t, in.TariffIndex), in.KRN)
	if fmt.Sprintf("%016X", got) != want.ControlBlockHex {
		t.Errorf("control block = %016X, want %s", got, want.ControlBlockHex)
	}
}

func checkPANBlock(t *testing.T, in *vectorInputs, want *vectorExpected, _ *Tables) {
	got, err := PANBlock(in.IIN, in.IAIN, in.KeyType)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%016X", got) != want.PANBlockHex {
		t.Errorf("PAN block = %016X, want %s", got, want.PANBlockHex)
	}
}

func checkDKGA02Illustration(t *testing.T, in *vectorInputs, want *vectorExpected, _ *Tables) {
	p := KeyParams{DKGA: DKGA02, EA: EA07, KeyType: in.KeyType, SGC: in.SGC,
		TariffIndex: tariff(t, in.TariffIndex), KRN: in.KRN, DRN: in.DRN}
	k, err := DeriveKey(hexBytes(t, in.VendingKeyHex), p)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%016X", k.PANBlock); got != want.PANBlockHex {
		t.Errorf("PAN block = %s, want %s", got, want.PANBlockHex)
	}
	if got := fmt.Sprintf("%016X", k.ControlBlock); got != want.ControlCorrect {
		t.Errorf("control block = %s, want %s", got, want.ControlCorrect)
	}
	if got := fmt.Sprintf("%X", k.Key); got != want.DecoderCorrect {
		t.Errorf("decoder key = %s, want %s", got, want.DecoderCorrect)
	}
}

func checkDKGA04(t *testing.T, in *vectorInputs, want *vectorExpected, _ *Tables) {
	k := derive(t, &derivation{DKGA: "04", VendingKeyHex: in.VendingKeyHex, KeyType: in.KeyType,
		SGC: in.SGC, TariffIndex: in.TariffIndex, KRN: in.KRN, MeterPAN: in.MeterPAN,
		BaseDate: in.BaseDate, EA: in.EA})
	if got := fmt.Sprintf("%X", k.HMACMessage); !strings.EqualFold(got, want.HMACMessageHex) {
		t.Errorf("HMAC message = %s, want %s", got, want.HMACMessageHex)
	}
	if got := fmt.Sprintf("%X", k.Key); got != want.DecoderKeyHex {
		t.Errorf("decoder key = %s, want %s", got, want.DecoderKeyHex)
	}
}

// vectorCipher returns the cipher a token vector is encrypted under, or nil
// when it needs production STA tables that were not supplied.
func vectorCipher(t *testing.T, in *vectorInputs, keyHex string, prod *Tables) BlockCipher {
	t.Helper()
	key := hexBytes(t, keyHex)
	if in.Cipher == "MISTY1" {
		c, err := NewCipher(EA11, key, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if in.STATables == "production" && prod == nil {
		return nil
	}
	c, err := NewCipher(EA07, key, prod)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkFullToken encodes f under c and compares block and token, then
// decodes the token back. Without a cipher only the block is compared.
func checkFullToken(t *testing.T, c BlockCipher, f *Fields, want *vectorExpected) {
	t.Helper()
	b, err := f.Block()
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%016X", b); got != want.DataBlockHex {
		t.Fatalf("block = %s, want %s", got, want.DataBlockHex)
	}
	if c == nil && f.Class != ClassTest {
		return
	}
	tok, err := Encode(c, f)
	if err != nil {
		t.Fatal(err)
	}
	if tok.String() != want.Token20 {
		t.Errorf("token = %s, want %s", tok, want.Token20)
	}
	parsed, err := ParseToken(want.Token20)
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := Decode(c, parsed)
	if err != nil || !ok {
		t.Fatalf("decode: crc ok %v, err %v", ok, err)
	}
	if got != *f {
		t.Errorf("decoded fields = %+v, want %+v", got, *f)
	}
}

func checkTIDToken(t *testing.T, in *vectorInputs, want *vectorExpected, prod *Tables) {
	if in.Derivation != nil && in.Derivation.DKGA != "" {
		k := derive(t, in.Derivation)
		if got := fmt.Sprintf("%X", k.Key); got != in.DecoderKeyHex {
			t.Errorf("derived decoder key = %s, want %s", got, in.DecoderKeyHex)
		}
	}
	f := Fields{Class: Class(in.TokenClass), SubClass: uint8(in.Subclass), RND: uint8(in.RND),
		TID: in.TID, Value: uint16(hex64(t, in.Field16Hex))}
	checkFullToken(t, vectorCipher(t, in, in.DecoderKeyHex, prod), &f, want)
}

var proseField = regexp.MustCompile(`(KENHO|KENLO|KRN|RO|KT|TI)=(0x[0-9A-Fa-f]+|\d+)`)

// checkKeyChangeToken checks a key change section: the block rebuilt from
// the payload and its check, the fields the vector states in prose, the key
// part against the new decoder key, and the full token where possible.
func checkKeyChangeToken(t *testing.T, in *vectorInputs, want *vectorExpected, prod *Tables) {
	payload := hex64(t, in.Payload44Hex)
	f, _ := ParseBlock(ClassManagement, uint64(in.Subclass)<<60|payload<<16)
	for _, m := range proseField.FindAllStringSubmatch(in.Fields, -1) {
		v, err := strconv.ParseUint(strings.TrimPrefix(m[2], "0x"), map[bool]int{true: 16,
			false: 10}[strings.HasPrefix(m[2], "0x")], 8)
		if err != nil {
			t.Fatal(err)
		}
		var got uint64
		switch m[1] {
		case "KENHO", "KENLO":
			got = uint64(f.KENPart)
		case "KRN":
			got = uint64(f.KRN)
		case "RO":
			got = map[bool]uint64{true: 1}[f.RO]
		case "KT":
			got = uint64(f.KeyType)
		case "TI":
			got = uint64(f.TariffIndex)
		}
		if got != v {
			t.Errorf("%s = %d, vector says %d", m[1], got, v)
		}
	}
	if in.KEN != nil {
		want := uint8(*in.KEN) >> 4
		if f.SubClass == SubKeyChange2 {
			want = uint8(*in.KEN) & 15
		}
		if f.KENPart != want {
			t.Errorf("KEN nibble = %d, want %d of KEN %d", f.KENPart, want, *in.KEN)
		}
	}
	if in.NewDecoderKey != "" {
		checkKeyPart(t, &f, hexBytes(t, in.NewDecoderKey))
	}
	checkFullToken(t, vectorCipher(t, in, in.EncryptKeyHex, prod), &f, want)
}

func checkKeyPart(t *testing.T, f *Fields, key []byte) {
	t.Helper()
	var off int
	switch {
	case f.SubClass == SubKeyChange1:
		off = 0
	case f.SubClass == SubKeyChange2:
		off = len(key) - 4
	case f.SubClass == SubKeyChange3:
		off = 4
	case f.SubClass == SubKeyChange4:
		off = 8
	}
	if want := binary.BigEndian.Uint32(key[off:]); f.KeyPart != want {
		t.Errorf("key part = %08X, want %08X (bytes %d..%d of the new key)",
			f.KeyPart, want, off, off+3)
	}
}

func checkTestToken(t *testing.T, in *vectorInputs, want *vectorExpected, _ *Tables) {
	ctl := in.Control36Hex
	if in.Subclass == 1 {
		ctl = in.Control28Hex
	}
	f := Fields{Class: ClassTest, SubClass: uint8(in.Subclass), Control: hex64(t, ctl),
		MfrCode: in.MfrCode}
	checkFullToken(t, nil, &f, want)
}

func checkCurrencyDecode(t *testing.T, in *vectorInputs, want *vectorExpected, prod *Tables) {
	tok, err := ParseToken(in.Token20)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Class() != Class(want.TokenClass) {
		t.Errorf("class = %d, want %d", tok.Class(), want.TokenClass)
	}
	block := hex64(t, want.DataBlockHex)
	if c := vectorCipher(t, in, in.DecoderKeyHex, prod); c != nil {
		if got := c.DecryptBlock(tok.Block()); got != block {
			t.Errorf("decrypted block = %016X, want %016X", got, block)
		}
	}
	f, ok := ParseBlock(ClassCredit, block)
	if ok != want.CRCCValid {
		t.Errorf("CRC_C ok = %v, want %v", ok, want.CRCCValid)
	}
	if CRC(ClassCredit, block) == uint16(block) {
		t.Error("plain CRC matches a currency block; only CRC_C should")
	}
	if int(f.SubClass) != want.Subclass || f.TID != want.TID || int(f.RND) != want.SENibble ||
		fmt.Sprintf("%04X", f.Value) != want.Field16Hex {
		t.Errorf("fields = %+v", f)
	}
	if got := f.Currency().Value().String(); got != "10000624" {
		t.Errorf("amount = %s × 0.00001, want 10000624 (100.00624)", got)
	}
}

func checkAmount(t *testing.T, in *vectorInputs, want *vectorExpected, _ *Tables) {
	field, err := EncodeAmount(in.ValueBaseUnits)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%04X", field); got != want.Field16Hex {
		t.Errorf("field = %s, want %s", got, want.Field16Hex)
	}
	if e, m := int(field>>14), int(field&0x3FFF); e != want.Exponent || m != want.Mantissa {
		t.Errorf("e, m = %d, %d, want %d, %d", e, m, want.Exponent, want.Mantissa)
	}
	if got := DecodeAmount(field); got != want.DecodedUnits {
		t.Errorf("decoded = %d, want %d", got, want.DecodedUnits)
	}
}

func checkTID(t *testing.T, in *vectorInputs, want *vectorExpected, _ *Tables) {
	at, err := time.Parse("2006-01-02 15:04", in.IssueTime)
	if err != nil {
		t.Fatal(err)
	}
	base, err := ParseBaseDate(in.BaseDate[:4])
	if err != nil {
		t.Fatal(err)
	}
	tid, err := TIDAt(at, base)
	if err != nil {
		t.Fatal(err)
	}
	if tid != want.TID || int(tid>>16) != want.KENByte {
		t.Errorf("tid = %d (KEN byte %d), want %d (%d)", tid, tid>>16, want.TID, want.KENByte)
	}
	if back := TIDTime(tid, base); !back.Equal(at) {
		t.Errorf("TIDTime = %v, want %v", back, at)
	}
}

func checkKEN(t *testing.T, in *vectorInputs, want *vectorExpected, _ *Tables) {
	expired := KeyExpired(in.TID, uint8(*in.KEN))
	wantExpired := strings.HasPrefix(want.Result, "key expired")
	if expired != wantExpired {
		t.Errorf("KeyExpired(%d, %d) = %v, vector says %q", in.TID, *in.KEN, expired, want.Result)
	}
	if want.TIDMSB8 != nil && int(in.TID>>16) != *want.TIDMSB8 {
		t.Errorf("TID>>16 = %d, want %d", in.TID>>16, *want.TIDMSB8)
	}
}

func checkLuhn(t *testing.T, in *vectorInputs, want *vectorExpected, _ *Tables) {
	d, err := LuhnCheckDigit(in.Digits)
	if err != nil {
		t.Fatal(err)
	}
	if int(d-'0') != want.CheckDigit {
		t.Errorf("check digit = %c, want %d", d, want.CheckDigit)
	}
	if !LuhnValid(in.Digits + string(d)) {
		t.Error("LuhnValid rejects the number with its own check digit")
	}
}

func checkMISTY1Block(t *testing.T, in *vectorInputs, want *vectorExpected, _ *Tables) {
	c, err := misty1.NewCipher(hexBytes(t, in.KeyHex))
	if err != nil {
		t.Fatal(err)
	}
	p := hex64(t, in.PlaintextHex)
	got := c.EncryptBlock(p)
	if fmt.Sprintf("%016X", got) != want.CiphertextHex {
		t.Errorf("ciphertext = %016X, want %s", got, want.CiphertextHex)
	}
	if c.DecryptBlock(got) != p {
		t.Error("decrypt does not return the plaintext")
	}
}

func checkDESBlock(t *testing.T, in *vectorInputs, want *vectorExpected, _ *Tables) {
	c, err := des.NewCipher(hexBytes(t, in.KeyHex))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 8)
	c.Encrypt(out, hexBytes(t, in.PlaintextHex))
	if got := fmt.Sprintf("%X", out); got != want.CiphertextHex {
		t.Errorf("ciphertext = %s, want %s", got, want.CiphertextHex)
	}
}
