package wire

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fnv1a is the 32-bit FNV-1a hash written out from its definition, so the
// partition mapping is checked against the algorithm rather than against
// itself.
func fnv1a(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

func TestPartitionIsFNV1a(t *testing.T) {
	for _, n := range []int{2, 7, DefaultPartitions, MaxPartitions} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			for i := range 2000 {
				drn := fmt.Sprintf("%011d", 1234567890+i*7919)
				got := Partition(drn, n)
				if want := int(fnv1a(drn) % uint32(n)); got != want {
					t.Fatalf("Partition(%s, %d) = %d, want %d", drn, n, got, want)
				}
			}
		})
	}
}

func TestPartitionSpreadsMeters(t *testing.T) {
	counts := make([]int, DefaultPartitions)
	const meters = 32000
	for i := range meters {
		counts[Partition(fmt.Sprintf("%011d", 4000000000+i), DefaultPartitions)]++
	}
	mean := meters / DefaultPartitions
	for p, c := range counts {
		if c < mean/2 || c > mean*3/2 {
			t.Errorf("partition %d holds %d meters, want near %d", p, c, mean)
		}
	}
}

func TestPartitionSmallCounts(t *testing.T) {
	for _, n := range []int{-3, 0, 1} {
		if got := Partition("01234567890", n); got != 0 {
			t.Errorf("Partition(_, %d) = %d, want 0", n, got)
		}
	}
}

func TestSubjectRoundTrip(t *testing.T) {
	for _, c := range Channels {
		for _, drn := range []string{"01234567890", "6000123456789", "A-b_9"} {
			t.Run(string(c)+"/"+drn, func(t *testing.T) {
				subj, err := Subject(c, drn, DefaultPartitions)
				if err != nil {
					t.Fatal(err)
				}
				wantPrefix := "sts.v1." + string(c) + "."
				if !strings.HasPrefix(subj, wantPrefix) {
					t.Errorf("Subject = %q, want prefix %q", subj, wantPrefix)
				}
				gc, gp, gd, err := ParseSubject(subj)
				if err != nil {
					t.Fatal(err)
				}
				if gc != c || gd != drn || gp != Partition(drn, DefaultPartitions) {
					t.Errorf("ParseSubject(%q) = %s %d %s", subj, gc, gp, gd)
				}
				if err := CheckPartition(gd, gp, DefaultPartitions); err != nil {
					t.Error(err)
				}
				if !matches(PartitionFilter(c, gp), subj) {
					t.Errorf("%s does not match %s", PartitionFilter(c, gp), subj)
				}
				if !matches(ChannelFilter(c), subj) {
					t.Errorf("%s does not match %s", ChannelFilter(c), subj)
				}
			})
		}
	}
}

// matches applies NATS wildcard rules: '*' is one token, '>' the rest.
func matches(filter, subject string) bool {
	f, s := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, tok := range f {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || tok != "*" && tok != s[i] {
			return false
		}
	}
	return len(f) == len(s)
}

func TestSubjectRejectsBadDRN(t *testing.T) {
	for name, drn := range map[string]string{
		"empty":     "",
		"dot":       "0123.4567",
		"star":      "01*",
		"gt":        "01>",
		"space":     "01 23",
		"too long":  strings.Repeat("1", 65),
		"non-ascii": "01é",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Subject(ChannelResult, drn, DefaultPartitions)
			if !errors.Is(err, ErrSubject) {
				t.Errorf("Subject(%q) error = %v, want ErrSubject", drn, err)
			}
		})
	}
}

func TestParseSubjectErrors(t *testing.T) {
	for name, subj := range map[string]string{
		"other root":       "sts.v2.result.1.01234567890",
		"no root":          "result.1.01234567890",
		"unknown channel":  "sts.v1.token.1.01234567890",
		"missing drn":      "sts.v1.result.1",
		"extra token":      "sts.v1.result.1.0123.4",
		"leading zero":     "sts.v1.result.01.01234567890",
		"signed":           "sts.v1.result.+1.01234567890",
		"negative":         "sts.v1.result.-1.01234567890",
		"past max":         fmt.Sprintf("sts.v1.result.%d.01234567890", MaxPartitions),
		"wildcard":         "sts.v1.result.1.*",
		"empty partition":  "sts.v1.result..01234567890",
		"empty everything": "",
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, _, err := ParseSubject(subj); !errors.Is(err, ErrSubject) {
				t.Errorf("ParseSubject(%q) error = %v, want ErrSubject", subj, err)
			}
		})
	}
}

func TestCheckPartition(t *testing.T) {
	drn := "01234567890"
	p := Partition(drn, DefaultPartitions)
	if err := CheckPartition(drn, (p+1)%DefaultPartitions, DefaultPartitions); err == nil {
		t.Error("CheckPartition accepted the wrong partition")
	}
	for _, n := range []int{0, -1, MaxPartitions + 1} {
		if err := CheckPartitionCount(n); err == nil {
			t.Errorf("CheckPartitionCount(%d) = nil", n)
		}
	}
	for _, n := range []int{1, DefaultPartitions, MaxPartitions} {
		if err := CheckPartitionCount(n); err != nil {
			t.Errorf("CheckPartitionCount(%d) = %v", n, err)
		}
	}
}

const goodVend = `{"vend_id":"v-1","meter":"01234567890","utility":"electricity",` +
	`"units":"40.1","unit":"kWh","amount":"1000.00","currency":"KES",` +
	`"token_amount":"880.00","other_charges":"120.00","tid":123456,` +
	`"issued_at":"2026-03-01T10:00:00Z","sim_time":"2026-03-01T10:00:00Z"}`

func TestDecodeVend(t *testing.T) {
	got, err := DecodeVend([]byte(goodVend))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	want := VendEvent{
		VendID: "v-1", Meter: "01234567890", Utility: "electricity",
		Units: "40.1", Unit: "kWh", Amount: "1000.00", Currency: "KES",
		TokenAmount: "880.00", OtherCharges: "120.00", TID: 123456,
		IssuedAt: at, SimTime: at,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DecodeVend (-want +got):\n%s", diff)
	}
}

func TestDecodeVendErrors(t *testing.T) {
	for _, tc := range []struct{ name, from, to, wantErr string }{
		{"unknown field", `"tid"`, `"extra":1,"tid"`, "unknown field"},
		{"no vend id", `"vend_id":"v-1"`, `"vend_id":""`, "vend_id"},
		{"bad meter", `"meter":"01234567890"`, `"meter":"01.2"`, "meter"},
		{"bad utility", `"utility":"electricity"`, `"utility":"steam"`, "utility"},
		{"unit mismatch", `"unit":"kWh"`, `"unit":"m3"`, "unit"},
		{"no currency", `"currency":"KES"`, `"currency":""`, "currency"},
		{"negative units", `"units":"40.1"`, `"units":"-40.1"`, "units"},
		{"float units", `"units":"40.1"`, `"units":"4e1"`, "units"},
		{"bare point", `"amount":"1000.00"`, `"amount":"1000."`, "amount"},
		{"leading point", `"token_amount":"880.00"`, `"token_amount":".5"`, "token_amount"},
		{"empty charges", `"other_charges":"120.00"`, `"other_charges":""`, "other_charges"},
		{"no issue time", `"issued_at":"2026-03-01T10:00:00Z",`, ``, "issued_at"},
		{"number units", `"units":"40.1"`, `"units":40.1`, "units"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := strings.Replace(goodVend, tc.from, tc.to, 1)
			if in == goodVend {
				t.Fatalf("replacement %q not found", tc.from)
			}
			_, err := DecodeVend([]byte(in))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("DecodeVend error = %v, want one naming %q", err, tc.wantErr)
			}
		})
	}
	if _, err := DecodeVend([]byte(goodVend + `{}`)); err == nil {
		t.Error("DecodeVend accepted trailing data")
	}
}

func FuzzParseSubject(f *testing.F) {
	for _, c := range Channels {
		s, _ := Subject(c, "01234567890", DefaultPartitions)
		f.Add(s)
	}
	f.Add("sts.v1.result.01.x")
	f.Add("sts.v1..1.x")
	f.Fuzz(func(t *testing.T, subj string) {
		c, p, drn, err := ParseSubject(subj)
		if err != nil {
			return
		}
		// A subject that parses rebuilds to itself.
		again := SubjectRoot + string(c) + "." + fmt.Sprint(p) + "." + drn
		if again != subj {
			t.Fatalf("ParseSubject(%q) rebuilds as %q", subj, again)
		}
	})
}

func FuzzDecodeVend(f *testing.F) {
	f.Add([]byte(goodVend))
	f.Add([]byte(`{"vend_id":"x"}`))
	f.Add([]byte(`{"units":"1.2.3"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeVend(data)
		if err != nil {
			return
		}
		// Whatever decodes is usable: it has a subject and checks again.
		if _, err := Subject(ChannelVend, e.Meter, DefaultPartitions); err != nil {
			t.Fatalf("decoded vend for meter %q has no subject: %v", e.Meter, err)
		}
		if err := e.check(); err != nil {
			t.Fatalf("decoded vend fails its own check: %v", err)
		}
	})
}
