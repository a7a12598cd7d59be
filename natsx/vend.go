package natsx

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stsfleet/stsfleet/protocol/wire"
)

// ErrInvalidVend reports a vend event payload that breaks the contract.
var ErrInvalidVend = errors.New("invalid vend event")

// VendPublisher publishes the vendor's vend events on [wire.ChannelVend]
// through JetStream. It is safe for concurrent use.
type VendPublisher struct {
	js         jetstream.JetStream
	partitions int
}

// NewVendPublisher returns a publisher over nc for a deployment of the given
// partition count (zero means [wire.DefaultPartitions]).
func NewVendPublisher(nc *nats.Conn, partitions int) (*VendPublisher, error) {
	if partitions == 0 {
		partitions = wire.DefaultPartitions
	}
	if err := wire.CheckPartitionCount(partitions); err != nil {
		return nil, fmt.Errorf("new vend publisher: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("new vend publisher: %w", err)
	}
	return &VendPublisher{js: js, partitions: partitions}, nil
}

// PublishVend publishes one vend event, a [wire.VendEvent] in JSON, for the
// meter drn and returns once JetStream has stored it. The payload is checked
// against the contract first (an error wrapping [ErrInvalidVend]). Its
// Nats-Msg-Id is the payload's hash, so publishing the same event again
// within the stream's duplicate window stores it once: a caller may retry
// freely. Errors [Transient] accepts are worth retrying.
func (p *VendPublisher) PublishVend(ctx context.Context, drn string, payload []byte) error {
	ev, err := wire.DecodeVend(payload)
	if err != nil {
		return fmt.Errorf("publish vend for meter %s: %w: %w", drn, ErrInvalidVend, err)
	}
	if ev.Meter != drn {
		return fmt.Errorf("publish vend %s: %w: meter %s in a vend for meter %s",
			ev.VendID, ErrInvalidVend, ev.Meter, drn)
	}
	subject, err := wire.Subject(wire.ChannelVend, drn, p.partitions)
	if err != nil {
		return fmt.Errorf("publish vend %s: %w", ev.VendID, err)
	}
	id := jetstream.WithMsgID(MsgID(subject, payload))
	if _, err := p.js.Publish(ctx, subject, payload, id); err != nil {
		return fmt.Errorf("publish vend %s: %w", ev.VendID, err)
	}
	return nil
}

// MsgID returns the Nats-Msg-Id of a message: a hash of its subject and
// payload. Two publications of the same bytes on the same subject within the
// duplicate window are stored once; distinct facts differ in their bytes
// (every payload carries the wall time it was sent).
func MsgID(subject string, payload []byte) string {
	h := sha256.New()
	h.Write([]byte(subject))
	h.Write([]byte{0})
	h.Write(payload)
	return hex.EncodeToString(h.Sum(nil)[:16])
}
