package receipts

import (
	"fmt"
	"io"
	"runtime"
	"time"
)

// receiptStream generates a synthetic KPLC export of about limit bytes
// without holding it: receipts cycle over distinct tokens, so every copy
// after the first round is a duplicate, and one receipt in 97 has a meter
// with a bad check digit.
type receiptStream struct {
	limit    int64
	distinct int
	written  int64
	i        int
	buf      []byte
}

func newReceiptStream(limit int64, distinct int) *receiptStream {
	return &receiptStream{limit: limit, distinct: distinct}
}

var genMeters = []string{"53348390344", "43016234684", "42763652437", "70360453107"}

func (g *receiptStream) Read(p []byte) (int, error) {
	for len(g.buf) == 0 {
		if g.written >= g.limit {
			return 0, io.EOF
		}
		g.buf = g.record(g.buf[:0])
	}
	n := copy(p, g.buf)
	g.buf = g.buf[n:]
	g.written += int64(n)
	return n, nil
}

// record appends the next header and message. Everything but the header
// depends only on the token number, so resends are exact.
func (g *receiptStream) record(dst []byte) []byte {
	t := g.i % g.distinct
	g.i++
	meter := genMeters[t%len(genMeters)]
	if t%97 == 0 {
		meter = meter[:10] + string(rune('0'+(meter[10]-'0'+1)%10))
	}
	tok := fmt.Sprintf("%020d", uint64(t)*982451653%10_000_000_000_000_000_000)
	when := time.Date(2023, 5, 13, 19, 13, 0, 0, zoneEAT).Add(time.Duration(t) * 7 * time.Hour)
	amount := int64(50+(t%20)*10) * 100
	token := amount * 58 / 100
	units := token / 12
	dst = fmt.Appendf(dst, "%s \u00b7 %s\u202f%s \n", when.Add(2*time.Hour).Format(
		"Monday, January 2, 2006"), when.Add(2*time.Hour).Format("3:04"),
		when.Add(2*time.Hour).Format("PM"))
	return fmt.Appendf(dst, "Mtr:%s Token:%s-%s-%s-%s-%s Date:%s Units:%s Amt:%s TknAmt:%s "+
		"OtherCharges:%s For Details dial *977#\n", meter, tok[0:4], tok[4:8], tok[8:12],
		tok[12:16], tok[16:20], when.Format("20060102 15:04"), DecimalOf(units),
		DecimalOf(amount), DecimalOf(token), DecimalOf(amount-token))
}

// heapPeak samples the live heap while an import runs.
type heapPeak struct {
	every, n int
	peak     uint64
}

func (h *heapPeak) sample() {
	h.n++
	if h.n%h.every != 0 {
		return
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	h.peak = max(h.peak, ms.HeapAlloc)
}
