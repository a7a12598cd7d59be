package sts

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTIDRange(t *testing.T) {
	last := time.Date(2045, 11, 24, 20, 15, 59, 0, time.UTC)
	if tid, err := TIDAt(last, Base2014); err != nil || tid != MaxTID {
		t.Errorf("TIDAt(last minute) = %d, %v; want %d", tid, err, MaxTID)
	}
	_, err := TIDAt(last.Add(time.Minute), Base2014)
	if !errors.Is(err, ErrRange) || !strings.Contains(err.Error(), "use base date 2035") {
		t.Errorf("TIDAt past the end = %v, want a range error naming 2035", err)
	}
	_, err = TIDAt(time.Date(2024, 11, 25, 0, 0, 0, 0, time.UTC), Base1993)
	if !strings.Contains(err.Error(), "2024-11-24 20:15") {
		t.Errorf("1993 roll-over error %v does not name the last minute", err)
	}
	_, err = TIDAt(time.Date(2067, 1, 1, 0, 0, 0, 0, time.UTC), Base2035)
	if !strings.Contains(err.Error(), "no later base date") {
		t.Errorf("2035 roll-over error = %v", err)
	}
	if _, err := TIDAt(time.Date(2013, 12, 31, 23, 59, 0, 0, time.UTC), Base2014); err == nil {
		t.Error("a time before the base date was accepted")
	}
}

func TestTIDZone(t *testing.T) {
	eat := time.FixedZone("EAT", 3*3600)
	local := time.Date(2026, 12, 3, 16, 55, 30, 0, eat)
	utc := time.Date(2026, 12, 3, 13, 55, 0, 0, time.UTC)
	a, _ := TIDAt(local, Base2014)
	b, _ := TIDAt(utc, Base2014)
	if a != b {
		t.Errorf("same instant in two zones gives TIDs %d and %d", a, b)
	}
}

func TestParseBaseDate(t *testing.T) {
	for in, want := range map[string]BaseDate{"1993": Base1993, "14": Base2014, "2035": Base2035} {
		if got, err := ParseBaseDate(in); err != nil || got != want {
			t.Errorf("ParseBaseDate(%s) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseBaseDate("2000"); err == nil {
		t.Error("base date 2000 accepted")
	}
	if DefaultBaseDate != Base2014 {
		t.Error("the default base date must be 2014: the 1993 range has ended")
	}
}
