package receipts

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

// checkMeter applies FORMATS.md §5.2: digits only, 11 or 13 of them, and a
// valid Luhn check digit over the whole number.
func checkMeter(raw string) (string, *Problem) {
	bad := func(format string, args ...any) (string, *Problem) {
		return "", &Problem{Code: CodeBadMeter, Text: fmt.Sprintf(format, args...)}
	}
	if !allDigits(raw) {
		return bad("meter number %q has characters that are not digits", raw)
	}
	if len(raw) != 11 && len(raw) != 13 {
		return bad("meter number has %d digits (need 11 or 13)", len(raw))
	}
	if err := sts.ValidateDRN(raw); err != nil {
		if errors.Is(err, sts.ErrCheckDigit) {
			return bad("meter number fails its Luhn check digit")
		}
		return bad("meter number: %v", err)
	}
	return raw, nil
}

// checkToken applies FORMATS.md §5.2 to a credit token or key-change code:
// dashes and spaces removed, exactly 20 digits, value below 2^66. name is
// how the reason refers to it.
func checkToken(name, raw string) (sts.Token, string, *Problem) {
	bad := func(format string, args ...any) (sts.Token, string, *Problem) {
		return sts.Token{}, "", &Problem{Code: CodeBadToken, Text: fmt.Sprintf(format, args...)}
	}
	digits := 0
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c != '-' && c != ' ':
			return bad("%s has characters that are not digits", name)
		}
	}
	if digits != sts.TokenDigits {
		return bad("%s has %d digits", name, digits)
	}
	t, err := sts.ParseToken(raw)
	if err != nil {
		// ParseToken has no separate sentinel for the range check; with
		// 20 digits and nothing else, the range is all that can fail.
		return bad("%s value is not below 2^66 so it cannot be an STS token", name)
	}
	return t, t.String(), nil
}

// currencyPrefixes are the money prefixes of FORMATS.md §5.2 and their
// ISO 4217 codes. Longer prefixes come first; one-letter prefixes match
// only in upper case.
var currencyPrefixes = []struct {
	prefix string
	code   string
}{
	{"KShs", "KES"}, {"KSh", "KES"}, {"KES", "KES"}, {"NGN", "NGN"}, {"ZAR", "ZAR"},
	{"UGX", "UGX"}, {"USh", "UGX"}, {"TZS", "TZS"}, {"TSH", "TZS"}, {"\u20a6", "NGN"},
	{"N", "NGN"}, {"R", "ZAR"},
}

// parseMoney reads an amount with an optional currency prefix and
// thousands commas. It returns the currency code of the prefix, if any.
func parseMoney(text string) (Decimal, string, numberInfo, error) {
	code := ""
	for _, c := range currencyPrefixes {
		if text != "" && text[0] >= '0' && text[0] <= '9' {
			break
		}
		n := len(c.prefix)
		if len(text) <= n {
			continue
		}
		match := text[:n] == c.prefix || n > 1 && strings.EqualFold(text[:n], c.prefix)
		rest := strings.TrimPrefix(text[n:], " ")
		if match && rest != "" && rest[0] >= '0' && rest[0] <= '9' {
			code, text = c.code, rest
			break
		}
	}
	d, info, err := parseNumber(text)
	return d, code, info, err
}

// parseUnits reads kWh with an optional "kWh" suffix in any case.
func parseUnits(text string) (Decimal, numberInfo, error) {
	if n := len(text); n >= 3 && strings.EqualFold(text[n-3:], "kwh") {
		text = strings.TrimSuffix(text[:n-3], " ")
	}
	return parseNumber(text)
}

// dateInfo says how a date was written.
type dateInfo struct {
	seconds  bool
	offset   bool
	dayFirst bool
}

// parseDate reads a receipt's date field: "YYYYMMDD HH:MM" (KPLC), with
// optional seconds and "+0300" offset, "YYYY-MM-DD HH:MM", or the
// day-first "DD/MM/YYYY HH:MM". Without an offset the time is in zone.
func parseDate(label, text string, zone *time.Location) (time.Time, dateInfo, *Problem) {
	var info dateInfo
	bad := func(format string, args ...any) (time.Time, dateInfo, *Problem) {
		return time.Time{}, info, &Problem{Code: CodeBadDate, Text: fmt.Sprintf(format, args...)}
	}
	parts := strings.Fields(text)
	if len(parts) < 2 || len(parts) > 3 {
		return bad("%s %q is not in a known form", label, text)
	}
	y, mo, d, dayFirst, ok := parseDay(parts[0])
	if !ok {
		return bad("%s %q is not in a known form", label, text)
	}
	info.dayFirst = dayFirst
	hh, mm, ss, hasSeconds, ok := parseClock(parts[1])
	if !ok {
		return bad("%s %q is not in a known form", label, text)
	}
	info.seconds = hasSeconds
	loc := zone
	if len(parts) == 3 {
		off, ok := parseOffset(parts[2])
		if !ok {
			return bad("%s offset %q is not of the form +0300", label, parts[2])
		}
		info.offset = true
		loc = time.FixedZone("", off)
	}
	if y < 1970 || y > 2199 || time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC).Day() != d ||
		mo < 1 || mo > 12 {
		return bad("%s %04d-%02d-%02d is not a calendar date", label, y, mo, d)
	}
	if hh > 23 || mm > 59 || ss > 59 {
		return bad("%s %02d:%02d:%02d is not a clock time", label, hh, mm, ss)
	}
	return time.Date(y, time.Month(mo), d, hh, mm, ss, 0, loc), info, nil
}

// parseDay reads YYYYMMDD, YYYY-MM-DD or DD/MM/YYYY. It checks shape only.
func parseDay(s string) (y, m, d int, dayFirst, ok bool) {
	num := func(t string) int {
		if t == "" || len(t) > 4 || !allDigits(t) {
			return -1
		}
		n, _ := strconv.Atoi(t)
		return n
	}
	switch {
	case len(s) == 8 && allDigits(s):
		return num(s[:4]), num(s[4:6]), num(s[6:]), false, true
	case strings.Count(s, "-") == 2:
		p := strings.Split(s, "-")
		y, m, d = num(p[0]), num(p[1]), num(p[2])
		return y, m, d, false, len(p[0]) == 4 && y >= 0 && m >= 0 && d >= 0
	case strings.Count(s, "/") == 2:
		p := strings.Split(s, "/")
		d, m, y = num(p[0]), num(p[1]), num(p[2])
		// FORMATS.md §5.2: slash dates are day-first.
		return y, m, d, true, len(p[2]) == 4 && y >= 0 && m >= 0 && d >= 0
	}
	return 0, 0, 0, false, false
}

// parseClock reads HH:MM or HH:MM:SS. It checks shape only.
func parseClock(s string) (hh, mm, ss int, hasSeconds, ok bool) {
	p := strings.Split(s, ":")
	if len(p) < 2 || len(p) > 3 {
		return 0, 0, 0, false, false
	}
	vals := make([]int, len(p))
	for i, t := range p {
		if len(t) < 1 || len(t) > 2 || !allDigits(t) || i > 0 && len(t) != 2 {
			return 0, 0, 0, false, false
		}
		vals[i], _ = strconv.Atoi(t)
	}
	if len(p) == 3 {
		return vals[0], vals[1], vals[2], true, true
	}
	return vals[0], vals[1], 0, false, true
}

// parseOffset reads +HHMM or +HH:MM and returns seconds east of UTC.
func parseOffset(s string) (int, bool) {
	if len(s) < 5 || (s[0] != '+' && s[0] != '-') {
		return 0, false
	}
	body := strings.Replace(s[1:], ":", "", 1)
	if len(body) != 4 || !allDigits(body) {
		return 0, false
	}
	h, _ := strconv.Atoi(body[:2])
	m, _ := strconv.Atoi(body[2:])
	if h > 14 || m > 59 {
		return 0, false
	}
	off := h*3600 + m*60
	if s[0] == '-' {
		off = -off
	}
	return off, true
}

// joinAnd joins items as "a, b and c".
func joinAnd(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// formatGap renders a duration to the minute: "7m", "2h01m", "4d09h19m".
func formatGap(d time.Duration) string {
	m := int64(d.Round(time.Minute) / time.Minute)
	days, hours, mins := m/(24*60), m/60%24, m%60
	switch {
	case days > 0:
		return fmt.Sprintf("%dd%02dh%02dm", days, hours, mins)
	case hours > 0:
		return fmt.Sprintf("%dh%02dm", hours, mins)
	}
	return fmt.Sprintf("%dm", mins)
}
