package logtest

import (
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLines(t *testing.T) {
	b := New()
	log := b.Logger(slog.LevelInfo)
	log.Debug("hidden")
	log.Info("connected", "addr", "a")
	log.Warn("waiting", "addr", "a")
	log.Warn("waiting", "addr", "b")
	tests := []struct {
		name  string
		parts []string
		want  int
	}{
		{"one part", []string{"waiting"}, 2},
		{"every part", []string{"waiting", "addr=b"}, 1},
		{"below the level", []string{"hidden"}, 0},
		{"none", nil, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := b.Lines(tt.parts...); len(got) != tt.want {
				t.Errorf("Lines(%q) = %q, want %d lines", tt.parts, got, tt.want)
			}
		})
	}
}

func TestWaitWakesAtWrite(t *testing.T) {
	b := New()
	log := b.Logger(slog.LevelInfo)
	written := make(chan struct{})
	go func() {
		defer close(written)
		log.Info("first")
		log.Info("second", "n", 2)
	}()
	line := b.Wait(t, 10*time.Second, "second")
	<-written
	if diff := cmp.Diff([]string{line}, b.Lines("n=2")); diff != "" {
		t.Errorf("Wait returned another line (-got +want):\n%s", diff)
	}
}
