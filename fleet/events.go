package fleet

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// Event is one token outcome, as written to the events file: one JSON
// object per line, in the order the meters entered the tokens.
type Event struct {
	// Meter is the DRN.
	Meter string `json:"meter"`
	// VendID is the vend the token came from; empty for a token typed
	// at the keypad.
	VendID string `json:"vend_id,omitempty"`
	// Token is the 20-digit token as entered.
	Token string `json:"token"`
	// Source is "mqtt" or "keypad".
	Source string `json:"source"`
	// Outcome is the name from the protocol's outcome table.
	Outcome string `json:"outcome"`
	// Class and SubClass are set when the token could be decoded.
	Class    *int `json:"class,omitempty"`
	SubClass *int `json:"subclass,omitempty"`
	// Credited is what the token added, a decimal in Unit.
	Credited string `json:"credited"`
	Unit     string `json:"unit"`
	// SimTime is the meter's simulated time; At the wall time.
	SimTime time.Time `json:"sim_time"`
	At      time.Time `json:"at"`
}

// eventLog writes events as NDJSON through a buffer. It is safe for
// concurrent use; a nil writer makes every call a no-op.
type eventLog struct {
	mu  sync.Mutex
	w   *bufio.Writer
	enc *json.Encoder
	err error
}

func newEventLog(w io.Writer) *eventLog {
	if w == nil {
		return &eventLog{}
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	return &eventLog{w: bw, enc: json.NewEncoder(bw)}
}

func (l *eventLog) write(e Event) {
	if l.enc == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.err = l.enc.Encode(e)
	}
}

// flush writes out what is buffered.
func (l *eventLog) flush() error {
	if l.w == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.err = l.w.Flush()
	}
	if l.err != nil {
		return fmt.Errorf("write events: %w", l.err)
	}
	return nil
}

func (l *eventLog) close() error { return l.flush() }
