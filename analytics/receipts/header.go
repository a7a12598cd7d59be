package receipts

import (
	"strconv"
	"strings"
	"time"
)

// Header is a phone's "received" line as the export prints it above a
// message: a weekday, an optional month and day, an optional year, a middle
// dot U+00B7 and a 12-hour clock time (FORMATS.md §2.1). The year goes
// missing for messages of the current year and the date for messages of the
// current week, so a header alone cannot always be turned into a time.
type Header struct {
	// Weekday is always present.
	Weekday time.Weekday
	// Month is 0 when the header names only the weekday.
	Month time.Month
	// Day is 0 when the header names only the weekday.
	Day int
	// Year is 0 when the header has no year.
	Year int
	// Hour is 0 to 23, Minute 0 to 59.
	Hour, Minute int
}

// HasFullDate reports whether the header names a year, month and day, the
// only case in which it can stand in for a missing Date field.
func (h Header) HasFullDate() bool { return h.Year != 0 && h.Month != 0 }

// Time returns the header's wall-clock time in loc. It is meaningful only
// when [Header.HasFullDate] is true.
func (h Header) Time(loc *time.Location) time.Time {
	return time.Date(h.Year, h.Month, h.Day, h.Hour, h.Minute, 0, 0, loc)
}

// shape names what the header lacks, for warnings.
func (h Header) shape() string {
	switch {
	case h.Month == 0:
		return "weekday only"
	case h.Year == 0:
		return "no year"
	}
	return "full date"
}

var weekdays = map[string]time.Weekday{
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday,
	"wednesday": time.Wednesday, "thursday": time.Thursday, "friday": time.Friday,
	"saturday": time.Saturday,
}

var months = map[string]time.Month{
	"january": time.January, "february": time.February, "march": time.March,
	"april": time.April, "may": time.May, "june": time.June, "july": time.July,
	"august": time.August, "september": time.September, "october": time.October,
	"november": time.November, "december": time.December,
	"jan": time.January, "feb": time.February, "mar": time.March, "apr": time.April,
	"jun": time.June, "jul": time.July, "aug": time.August, "sep": time.September,
	"sept": time.September, "oct": time.October, "nov": time.November, "dec": time.December,
}

// ParseHeader reads a normalised header line (spaces collapsed, no-break
// spaces turned into spaces). It reports false for any other line.
func ParseHeader(line string) (Header, bool) {
	datePart, clock, ok := strings.Cut(line, " \u00b7 ")
	if !ok {
		return Header{}, false
	}
	var h Header
	if !parseHeaderDate(datePart, &h) || !parseClock12(clock, &h) {
		return Header{}, false
	}
	return h, true
}

// parseHeaderDate reads "Weekday[, Month Day[, Year]]".
func parseHeaderDate(s string, h *Header) bool {
	parts := strings.Split(s, ", ")
	wd, ok := weekdays[strings.ToLower(parts[0])]
	if !ok || len(parts) > 3 {
		return false
	}
	h.Weekday = wd
	if len(parts) == 1 {
		return true
	}
	monthName, dayText, ok := strings.Cut(parts[1], " ")
	m, okMonth := months[strings.ToLower(monthName)]
	day, err := strconv.Atoi(dayText)
	if !ok || !okMonth || err != nil || day < 1 || day > 31 {
		return false
	}
	h.Month, h.Day = m, day
	if len(parts) == 2 {
		return true
	}
	year, err := strconv.Atoi(parts[2])
	if err != nil || len(parts[2]) != 4 {
		return false
	}
	h.Year = year
	// A header is a phone's own rendering, so an impossible date means the
	// line is not a header.
	return time.Date(year, m, day, 0, 0, 0, 0, time.UTC).Day() == day
}

// parseClock12 reads "h:mm AM" or "h:mm PM".
func parseClock12(s string, h *Header) bool {
	clock, ampm, ok := strings.Cut(s, " ")
	if !ok {
		return false
	}
	hh, mm, ok := strings.Cut(clock, ":")
	hour, err1 := strconv.Atoi(hh)
	minute, err2 := strconv.Atoi(mm)
	if !ok || err1 != nil || err2 != nil || len(mm) != 2 || hour < 1 || hour > 12 ||
		minute < 0 || minute > 59 {
		return false
	}
	switch strings.ToUpper(ampm) {
	case "AM":
		hour %= 12
	case "PM":
		hour = hour%12 + 12
	default:
		return false
	}
	h.Hour, h.Minute = hour, minute
	return true
}
