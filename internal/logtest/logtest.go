// Package logtest captures what a slog logger writes, for tests that wait
// for a line to appear: a [Buffer] wakes its waiters at every write, so a
// test waits for a line without sleeping. A Buffer is safe for concurrent
// use by the logger's goroutines and the test's.
package logtest

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// Buffer holds the lines a logger wrote.
type Buffer struct {
	// mu guards buf and changed.
	mu  sync.Mutex
	buf bytes.Buffer
	// changed is closed, and replaced, at every write.
	changed chan struct{}
}

// New returns an empty buffer.
func New() *Buffer { return &Buffer{changed: make(chan struct{})} }

// Logger returns a text logger writing to b from level up.
func (b *Buffer) Logger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: level}))
}

// Write implements io.Writer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	close(b.changed)
	b.changed = make(chan struct{})
	return n, err
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Lines returns the lines that contain every one of parts.
func (b *Buffer) Lines(parts ...string) []string {
	text, _ := b.snapshot()
	return matching(text, parts)
}

// Wait waits up to patience for a line that contains every one of parts
// and returns it; the test fails if none comes.
func (b *Buffer) Wait(t testing.TB, patience time.Duration, parts ...string) string {
	t.Helper()
	deadline := time.NewTimer(patience)
	defer deadline.Stop()
	for {
		text, changed := b.snapshot()
		if lines := matching(text, parts); len(lines) > 0 {
			return lines[0]
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("no log line with %q within %v; the log:\n%s", parts, patience, text)
			return ""
		}
	}
}

func (b *Buffer) snapshot() (string, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String(), b.changed
}

func matching(text string, parts []string) []string {
	var out []string
	for line := range strings.Lines(text) {
		if containsAll(line, parts) {
			out = append(out, strings.TrimSuffix(line, "\n"))
		}
	}
	return out
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
