package broker

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// TestMochiLog feeds mochi-style records through the handler mochi logs
// through: per-client warnings are rate-limited at Warn and kept at Debug,
// broken connections stay at Debug, lifecycle lines go, errors stay.
func TestMochiLog(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	tests := []struct {
		name  string
		level slog.Level
		// want counts the lines by level name.
		want map[string]int
	}{
		{"at info", slog.LevelInfo, map[string]int{"WARN": 2, "ERROR": 1}},
		{"at debug", slog.LevelDebug, map[string]int{"DEBUG": 2001, "WARN": 2, "ERROR": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			log := slog.New(newMochiHandler(slog.NewTextHandler(&out,
				&slog.HandlerOptions{Level: tt.level}), clock)).With("hook", "x")
			now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

			log.Info("attached listener", "id", "tcp")
			// 50,000 meters leaving would write one of these each.
			for i := range 1000 {
				log.Warn("error processing packet", "error",
					fmt.Errorf("write: %w", io.ErrClosedPipe), "client", i)
			}
			for i := range 1000 {
				log.Warn("client store quota reached", "client", i)
			}
			now = now.Add(mochiWarnEvery)
			log.Warn("client store quota reached", "client", "late")
			log.Error("publish packet error", "error", mqtt.ErrConnectionClosed)

			got := map[string]int{}
			for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				for _, l := range []string{"DEBUG", "INFO", "WARN", "ERROR"} {
					if strings.Contains(line, "level="+l) {
						got[l]++
					}
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("lines by level %v, want %v:\n%s", got, tt.want, tail(out.String()))
			}
			if !strings.Contains(out.String(), `level=WARN msg="client store quota reached" `+
				`hook=x client=late suppressed=999`) {
				t.Errorf("no warning counting the 999 held back:\n%s", tail(out.String()))
			}
		})
	}
}

func tail(s string) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-6):], "\n")
}
