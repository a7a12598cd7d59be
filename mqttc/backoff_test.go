package mqttc

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

func TestBackoffFollowsPaho(t *testing.T) {
	const (
		maxWait     = 4 * time.Second
		attemptTime = time.Second
	)
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	// Each step is a failure some time after the one before it.
	tests := []struct {
		name  string
		after []time.Duration
		want  []time.Duration
	}{
		{"doubling to the maximum", []time.Duration{0, time.Second, 2 * time.Second,
			4 * time.Second, 4 * time.Second},
			[]time.Duration{time.Second, 2 * time.Second, 4 * time.Second, maxWait, maxWait}},
		{"a long gap starts again", []time.Duration{0, time.Second, time.Minute},
			[]time.Duration{time.Second, 2 * time.Second, time.Second}},
		{"a gap within twice the attempt time and the pause continues",
			[]time.Duration{0, 3 * time.Second},
			[]time.Duration{time.Second, 2 * time.Second}},
		{"just past it starts again", []time.Duration{0, 3*time.Second + 1},
			[]time.Duration{time.Second, time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b backoff
			now := start
			for i, d := range tt.after {
				now = now.Add(d)
				if got := b.next(now, maxWait, attemptTime); got != tt.want[i] {
					t.Errorf("failure %d: pause %v, want %v", i, got, tt.want[i])
				}
			}
		})
	}
}

func TestBackoffFirstPauseIsCapped(t *testing.T) {
	var b backoff
	if got := b.next(time.Now(), 20*time.Millisecond, time.Second); got != 20*time.Millisecond {
		t.Errorf("first pause %v with a 20ms maximum, want 20ms", got)
	}
}

func TestReason(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp",
		Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"paho's network error", fmt.Errorf("%w : %w", packets.ErrorNetworkError, refused),
			"connection refused"},
		{"timeout", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("i/o timeout")},
			"i/o timeout"},
		{"refusal", &refusal{code: 5, err: packets.ErrorRefusedNotAuthorised},
			"credentials refused by the broker: not Authorized"},
		{"none", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := reason(tt.err); got != tt.want {
				t.Errorf("reason(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestRefusalMatches(t *testing.T) {
	tests := []struct {
		code        byte
		credentials bool
		missing     bool
	}{
		{packets.ErrRefusedBadProtocolVersion, false, false},
		{packets.ErrRefusedIDRejected, false, false},
		{packets.ErrRefusedServerUnavailable, false, true},
		{packets.ErrRefusedBadUsernameOrPassword, true, false},
		{packets.ErrRefusedNotAuthorised, true, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("code %d", tt.code), func(t *testing.T) {
			err := fmt.Errorf("connect: %w", &refusal{code: tt.code,
				err: packets.ConnErrors[tt.code]})
			if !errors.Is(err, ErrConnectRefused) {
				t.Errorf("%v does not match ErrConnectRefused", err)
			}
			if got := errors.Is(err, ErrCredentialsRefused); got != tt.credentials {
				t.Errorf("matches ErrCredentialsRefused: %v, want %v", got, tt.credentials)
			}
			if got := missing(err); got != tt.missing {
				t.Errorf("missing: %v, want %v", got, tt.missing)
			}
		})
	}
}
