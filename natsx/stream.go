package natsx

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stsfleet/stsfleet/protocol/wire"
)

// StreamName is the JetStream stream that holds every durable channel:
// results, final readings and vend events.
const StreamName = "STS"

// Defaults applied to zero [StreamConfig] and [ConsumerConfig] fields.
const (
	// DefaultMaxAge is how long the stream keeps a message: a week, so a
	// consumer rebuilding its totals from the start finds a week's facts.
	DefaultMaxAge = 7 * 24 * time.Hour
	// DefaultMaxBytes is the stream's size limit: 512 MiB; past it the
	// oldest messages go.
	DefaultMaxBytes = 512 << 20
	// DefaultDuplicates is the window in which JetStream drops a second
	// message with the same Nats-Msg-Id: a publisher's retry.
	DefaultDuplicates = 2 * time.Minute
	// DefaultMaxAckPending is how many delivered, unacknowledged
	// messages a consumer may hold.
	DefaultMaxAckPending = 20000
	// DefaultAckWait is how long JetStream waits for an acknowledgement
	// before it delivers a message again.
	DefaultAckWait = time.Minute
)

// StreamSubjects returns the subjects the stream captures: every channel of
// [wire.DurableChannels], all partitions.
func StreamSubjects() []string {
	out := make([]string, 0, len(wire.DurableChannels))
	for _, c := range wire.DurableChannels {
		out = append(out, wire.ChannelFilter(c))
	}
	return out
}

// StreamConfig sizes the stream. The zero value is a single-replica file
// stream named [StreamName] with the default limits.
type StreamConfig struct {
	// Name is the stream name. Empty means [StreamName].
	Name string
	// Replicas is the number of copies in a cluster, 1 to 5. Zero means 1.
	Replicas int
	// MaxAge is how long a message is kept. Zero means [DefaultMaxAge].
	MaxAge time.Duration
	// MaxBytes is the size limit in bytes. Zero means [DefaultMaxBytes].
	MaxBytes int64
	// Duplicates is the deduplication window. Zero means
	// [DefaultDuplicates].
	Duplicates time.Duration
}

func (c StreamConfig) jetstream() jetstream.StreamConfig {
	s := jetstream.StreamConfig{
		Name:       c.Name,
		Subjects:   StreamSubjects(),
		Retention:  jetstream.LimitsPolicy,
		Discard:    jetstream.DiscardOld,
		Storage:    jetstream.FileStorage,
		Replicas:   max(c.Replicas, 1),
		MaxAge:     c.MaxAge,
		MaxBytes:   c.MaxBytes,
		Duplicates: c.Duplicates,
	}
	if s.Name == "" {
		s.Name = StreamName
	}
	if s.MaxAge <= 0 {
		s.MaxAge = DefaultMaxAge
	}
	if s.MaxBytes <= 0 {
		s.MaxBytes = DefaultMaxBytes
	}
	if s.Duplicates <= 0 {
		s.Duplicates = DefaultDuplicates
	}
	return s
}

// EnsureStream returns the stream, creating it when it does not exist. An
// existing stream keeps its limits and replicas (whoever created it chose
// them); subjects of the contract it lacks are added. It retries while
// JetStream is unavailable, as in a cluster that is electing its leader,
// until ctx ends.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) (
	jetstream.Stream, error) {
	want := cfg.jetstream()
	var st jetstream.Stream
	err := retry(ctx, func(ctx context.Context) error {
		var err error
		st, err = ensureStreamOnce(ctx, js, want)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ensure stream %s: %w", want.Name, err)
	}
	return st, nil
}

func ensureStreamOnce(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) (
	jetstream.Stream, error) {
	st, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return js.CreateStream(ctx, want)
	}
	if err != nil {
		return nil, err
	}
	have := st.CachedInfo().Config
	missing := false
	for _, s := range want.Subjects {
		if !slices.Contains(have.Subjects, s) {
			have.Subjects = append(have.Subjects, s)
			missing = true
		}
	}
	if !missing {
		return st, nil
	}
	return js.UpdateStream(ctx, have)
}

// ConsumerConfig describes a durable pull consumer of the stream.
type ConsumerConfig struct {
	// Stream is the stream name. Empty means [StreamName].
	Stream string
	// Name is the durable name: letters, digits, '-' and '_'. Required.
	Name string
	// Filters are the subjects the consumer receives, such as one
	// [wire.PartitionFilter] per channel and partition owned. Required.
	Filters []string
	// StartSeq is the first stream sequence a new consumer delivers; zero
	// means the start of the stream. An existing consumer keeps its
	// position.
	StartSeq uint64
	// MaxAckPending bounds the unacknowledged messages. Zero means
	// [DefaultMaxAckPending].
	MaxAckPending int
	// AckWait is the redelivery timeout. Zero means [DefaultAckWait].
	AckWait time.Duration
	// Replicas of the consumer's state in a cluster. Zero means the
	// stream's.
	Replicas int
}

func (c ConsumerConfig) stream() string {
	if c.Stream == "" {
		return StreamName
	}
	return c.Stream
}

func (c ConsumerConfig) jetstream() jetstream.ConsumerConfig {
	cc := jetstream.ConsumerConfig{
		Durable:        c.Name,
		FilterSubjects: c.Filters,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        c.AckWait,
		MaxAckPending:  c.MaxAckPending,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		Replicas:       c.Replicas,
	}
	if c.StartSeq > 0 {
		cc.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cc.OptStartSeq = c.StartSeq
	}
	if cc.AckWait <= 0 {
		cc.AckWait = DefaultAckWait
	}
	if cc.MaxAckPending <= 0 {
		cc.MaxAckPending = DefaultMaxAckPending
	}
	return cc
}

func (c ConsumerConfig) check() error {
	if err := wire.CheckSubjectToken(c.Name); err != nil {
		return fmt.Errorf("durable name %q: %w", c.Name, err)
	}
	if len(c.Filters) == 0 {
		return fmt.Errorf("consumer %s: no filter subjects", c.Name)
	}
	return nil
}

// EnsureConsumer returns the durable consumer, creating it when it does not
// exist. An existing consumer keeps its position and acknowledgements; its
// filters and limits are brought in line with cfg. It retries like
// [EnsureStream].
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, cfg ConsumerConfig) (
	jetstream.Consumer, error) {
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("ensure consumer: %w", err)
	}
	var cons jetstream.Consumer
	err := retry(ctx, func(ctx context.Context) error {
		var err error
		cons, err = ensureConsumerOnce(ctx, js, cfg)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ensure consumer %s: %w", cfg.Name, err)
	}
	return cons, nil
}

func ensureConsumerOnce(ctx context.Context, js jetstream.JetStream, cfg ConsumerConfig) (
	jetstream.Consumer, error) {
	want := cfg.jetstream()
	cons, err := js.Consumer(ctx, cfg.stream(), cfg.Name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return js.CreateConsumer(ctx, cfg.stream(), want)
	}
	if err != nil {
		return nil, err
	}
	have := cons.CachedInfo().Config
	have.FilterSubject = ""
	have.FilterSubjects = want.FilterSubjects
	have.MaxAckPending = want.MaxAckPending
	have.AckWait = want.AckWait
	return js.UpdateConsumer(ctx, cfg.stream(), have)
}

// DeleteConsumer removes a durable consumer; a missing one is not an error.
func DeleteConsumer(ctx context.Context, js jetstream.JetStream, stream, name string) error {
	if stream == "" {
		stream = StreamName
	}
	err := retry(ctx, func(ctx context.Context) error {
		err := js.DeleteConsumer(ctx, stream, name)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("delete consumer %s: %w", name, err)
	}
	return nil
}

// attemptTimeout bounds one JetStream request inside [retry]: a cluster
// without a leader may leave a request unanswered.
const attemptTimeout = 2 * time.Second

// retry calls f until it succeeds, fails for good or ctx ends, giving each
// attempt at most [attemptTimeout]. Failures that a JetStream cluster shows
// while it forms (no responders, timeouts, 503 "unavailable" answers) are
// retried with a growing pause.
func retry(ctx context.Context, f func(context.Context) error) error {
	wait := 25 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err := f(actx)
		cancel()
		if err == nil || !Transient(err) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		case <-t.C:
		}
		wait = min(wait*2, time.Second)
	}
}

// Transient reports whether a JetStream request failed for a reason that
// may pass: no server answered, the request timed out, the client is
// reconnecting or has not connected yet, or JetStream answered that it is
// not available yet.
func Transient(err error) bool {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, nats.ErrConnectionReconnecting), errors.Is(err, nats.ErrDisconnected):
		return true
	case errors.Is(err, nats.ErrHeadersNotSupported):
		// A client that has not reached a server yet knows of no
		// headers support; every server since 2.2 has it.
		return true
	case errors.As(err, &apiErr):
		return apiErr.Code == 503 || apiErr.Code == 408 ||
			apiErr.ErrorCode == jetstream.JSErrCodeJetStreamNotEnabled
	}
	return false
}
