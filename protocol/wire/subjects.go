package wire

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// SubjectRoot is the prefix of every NATS subject of the contract.
const SubjectRoot = "sts." + Version + "."

// DefaultPartitions is the number of partitions the DRN space is split into
// when a deployment does not choose its own. Every publisher and consumer of
// one deployment must use the same count: it decides which subject a meter's
// messages travel on.
const DefaultPartitions = 32

// MaxPartitions bounds the partition count, so that a consumer owning every
// partition subscribes to a modest number of subjects.
const MaxPartitions = 1024

// Channel is the second segment of a NATS subject: which stream of facts a
// message belongs to.
type Channel string

// The NATS channels: sts.v1.{channel}.{partition}.{drn}.
const (
	// ChannelResult carries each meter's token results, bridged from
	// [KindResult]; published through JetStream.
	ChannelResult Channel = "result"
	// ChannelTelemetry carries ordinary readings bridged from
	// [KindTelemetry]; published on core NATS, so a reading may be lost.
	ChannelTelemetry Channel = "telemetry"
	// ChannelFinal carries the readings marked [Telemetry.Final], bridged
	// from [KindTelemetry]; published through JetStream.
	ChannelFinal Channel = "final"
	// ChannelVend carries the vendor's [VendEvent]s; published through
	// JetStream.
	ChannelVend Channel = "vend"
)

// Channels lists every channel.
var Channels = []Channel{ChannelResult, ChannelTelemetry, ChannelFinal, ChannelVend}

// DurableChannels lists the channels published through JetStream, whose
// messages a restarting consumer still receives.
var DurableChannels = []Channel{ChannelResult, ChannelFinal, ChannelVend}

// ErrSubject reports a DRN, partition or subject that does not fit the
// subject layout.
var ErrSubject = errors.New("invalid subject")

// Partition returns the partition, 0 to n-1, of the meter with this DRN: the
// 32-bit FNV-1a hash of the DRN's bytes modulo n. The mapping is part of the
// contract and never changes for a given n. An n below 1 is treated as 1.
func Partition(drn string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(drn))
	return int(h.Sum32() % uint32(n))
}

// Subject returns the subject of channel c for the meter with this DRN, in a
// deployment of n partitions: sts.v1.{c}.{partition}.{drn}. The DRN must be
// a valid subject token (see [CheckSubjectToken]).
func Subject(c Channel, drn string, n int) (string, error) {
	if err := CheckSubjectToken(drn); err != nil {
		return "", fmt.Errorf("subject for meter %q: %w", drn, err)
	}
	return SubjectRoot + string(c) + "." + strconv.Itoa(Partition(drn, n)) + "." + drn, nil
}

// PartitionFilter returns the subject filter that matches channel c for
// every meter of partition p: sts.v1.{c}.{p}.*.
func PartitionFilter(c Channel, p int) string {
	return SubjectRoot + string(c) + "." + strconv.Itoa(p) + ".*"
}

// ChannelFilter returns the subject filter that matches channel c for every
// meter of every partition: sts.v1.{c}.>.
func ChannelFilter(c Channel) string { return SubjectRoot + string(c) + ".>" }

// ParseSubject splits a subject into its channel, partition and DRN. It
// checks the layout only; whether the partition matches the DRN depends on
// the deployment's partition count (see [CheckPartition]).
func ParseSubject(subject string) (c Channel, p int, drn string, err error) {
	rest, ok := strings.CutPrefix(subject, SubjectRoot)
	if !ok {
		return "", 0, "", fmt.Errorf("parse subject %q: %w: not under %s",
			subject, ErrSubject, SubjectRoot)
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 3 {
		return "", 0, "", fmt.Errorf("parse subject %q: %w: want %s{channel}.{partition}.{drn}",
			subject, ErrSubject, SubjectRoot)
	}
	c = Channel(parts[0])
	if !knownChannel(c) {
		return "", 0, "", fmt.Errorf("parse subject %q: %w: unknown channel %q",
			subject, ErrSubject, parts[0])
	}
	p, err = parsePartition(parts[1])
	if err != nil {
		return "", 0, "", fmt.Errorf("parse subject %q: %w", subject, err)
	}
	if err := CheckSubjectToken(parts[2]); err != nil {
		return "", 0, "", fmt.Errorf("parse subject %q: drn: %w", subject, err)
	}
	return c, p, parts[2], nil
}

// CheckPartition reports an error when p is not the partition of drn in a
// deployment of n partitions: a publisher that disagrees on n.
func CheckPartition(drn string, p, n int) error {
	if want := Partition(drn, n); p != want {
		return fmt.Errorf("meter %s: %w: partition %d, want %d of %d",
			drn, ErrSubject, p, want, n)
	}
	return nil
}

// CheckPartitionCount reports an error when n is not a usable partition
// count: 1 to [MaxPartitions].
func CheckPartitionCount(n int) error {
	if n < 1 || n > MaxPartitions {
		return fmt.Errorf("partition count %d: %w: want 1 to %d", n, ErrSubject, MaxPartitions)
	}
	return nil
}

// CheckSubjectToken reports whether s can be one token of a NATS subject:
// not empty, at most 64 bytes, and only ASCII letters, digits, '-' and '_'.
// Every DRN passes; the rule keeps wildcards, separators and spaces out.
func CheckSubjectToken(s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty token", ErrSubject)
	}
	if len(s) > 64 {
		return fmt.Errorf("%w: token of %d bytes, at most 64", ErrSubject, len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
			c == '-' || c == '_'
		if !ok {
			return fmt.Errorf("%w: byte %q at %d", ErrSubject, c, i)
		}
	}
	return nil
}

func knownChannel(c Channel) bool {
	for _, k := range Channels {
		if c == k {
			return true
		}
	}
	return false
}

// parsePartition reads a partition segment: a decimal without sign or
// leading zeros, below [MaxPartitions].
func parsePartition(s string) (int, error) {
	if s == "" || len(s) > 4 || len(s) > 1 && s[0] == '0' || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("%w: partition %q", ErrSubject, s)
	}
	p, err := strconv.Atoi(s)
	if err != nil || p >= MaxPartitions {
		return 0, fmt.Errorf("%w: partition %q", ErrSubject, s)
	}
	return p, nil
}
