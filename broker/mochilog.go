package broker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/stsfleet/stsfleet/internal/ratelimit"
)

// mochiWarnEvery is the least time between two Warn lines of mochi's with
// the same message.
const mochiWarnEvery = 10 * time.Second

// mochiHandler is the slog.Handler mochi logs through.
//
// mochi logs its lifecycle at Info (hook added, listener attached), which
// the broker's own lines cover: those are dropped. Its warnings are about one
// client or one message each: "error processing packet" for every client
// whose connection breaks while a packet is handled, "client store quota
// reached" for every message dropped. A fleet of 50,000 meters leaving at
// once would write as many lines. So every warning is logged at Debug, with
// its detail; one whose error is only the end of the connection stays
// there (sessions' ends are counted by broker_disconnects_total); of the
// others, the first of each message per [mochiWarnEvery] is logged at Warn
// too, with the count of those held back since. Errors pass through.
type mochiHandler struct {
	next slog.Handler
	lim  *ratelimit.Limiter
}

func newMochiHandler(next slog.Handler, now func() time.Time) mochiHandler {
	return mochiHandler{next: next, lim: ratelimit.NewWithClock(mochiWarnEvery, now)}
}

// Enabled implements slog.Handler.
func (h mochiHandler) Enabled(ctx context.Context, l slog.Level) bool {
	switch {
	case l >= slog.LevelError:
		return h.next.Enabled(ctx, l)
	case l >= slog.LevelWarn:
		return h.next.Enabled(ctx, slog.LevelDebug) || h.next.Enabled(ctx, l)
	default:
		return false
	}
}

// Handle implements slog.Handler.
func (h mochiHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		return h.next.Handle(ctx, r)
	}
	var err error
	if h.next.Enabled(ctx, slog.LevelDebug) {
		d := r.Clone()
		d.Level = slog.LevelDebug
		err = h.next.Handle(ctx, d)
	}
	if connectionEnded(r) {
		return err
	}
	ok, held := h.lim.Allow(r.Message)
	if !ok || !h.next.Enabled(ctx, r.Level) {
		return err
	}
	w := r.Clone()
	w.AddAttrs(slog.Int("suppressed", held))
	return errors.Join(err, h.next.Handle(ctx, w))
}

// WithAttrs implements slog.Handler.
func (h mochiHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return mochiHandler{next: h.next.WithAttrs(attrs), lim: h.lim}
}

// WithGroup implements slog.Handler.
func (h mochiHandler) WithGroup(name string) slog.Handler {
	return mochiHandler{next: h.next.WithGroup(name), lim: h.lim}
}

// connectionEnded reports whether the record's error only says that the
// client's connection has closed or broken.
func connectionEnded(r slog.Record) bool {
	ended := false
	r.Attrs(func(a slog.Attr) bool {
		err, ok := a.Value.Any().(error)
		if !ok {
			return true
		}
		for _, target := range []error{io.EOF, io.ErrUnexpectedEOF, io.ErrClosedPipe,
			net.ErrClosed, os.ErrDeadlineExceeded, syscall.EPIPE, syscall.ECONNRESET,
			mqtt.ErrConnectionClosed} {
			if errors.Is(err, target) {
				ended = true
				return false
			}
		}
		return true
	})
	return ended
}
