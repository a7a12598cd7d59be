package analytics

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

// stateVersion is the version of the state file format.
const stateVersion = 1

// stateFile is an instance's checkpoint: its totals and the stream sequence
// they include, written atomically. It holds no keys.
type stateFile struct {
	Version    int    `json:"version"`
	Consumer   string `json:"consumer"`
	Partitions string `json:"partitions"`
	Count      int    `json:"partition_count"`
	// Seq is the stream sequence of the last JetStream message the
	// totals include.
	Seq     uint64                      `json:"seq"`
	Totals  [numUtilities]utilityTotals `json:"totals"`
	Revenue map[string][]revenue        `json:"revenue"`
	Counts  counters                    `json:"counts"`
	Meters  map[string]savedMeter       `json:"meters"`
	Tokens  []savedToken                `json:"tokens"`
	Latency *hdrhistogram.Snapshot      `json:"latency"`
	Lag     *hdrhistogram.Snapshot      `json:"lag"`
}

type savedMeter struct {
	Util       int      `json:"util"`
	HasReading bool     `json:"has_reading,omitempty"`
	Seq        uint64   `json:"seq,omitempty"`
	Credited   Amount   `json:"credited"`
	Consumed   Amount   `json:"consumed"`
	Cleared    Amount   `json:"cleared"`
	Remaining  Amount   `json:"remaining"`
	Reason     string   `json:"reason,omitempty"`
	NoCredit   bool     `json:"no_credit,omitempty"`
	Final      bool     `json:"final,omitempty"`
	Settled    []string `json:"settled,omitempty"`
	Next       int      `json:"next,omitempty"`
}

type savedToken struct {
	DRN    string `json:"drn"`
	VendID string `json:"vend_id"`
	tokenJSON
}

type tokenJSON struct {
	Event    bool        `json:"event,omitempty"`
	Result   bool        `json:"result,omitempty"`
	IssuedAt time.Time   `json:"issued_at,omitzero"`
	Outcome  sts.Outcome `json:"outcome"`
	SentAt   time.Time   `json:"sent_at,omitzero"`
}

// export copies the aggregator's state for a checkpoint.
func (a *aggregator) export(consumer string, ps PartitionSet) *stateFile {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := &stateFile{
		Version: stateVersion, Consumer: consumer, Partitions: ps.String(), Count: ps.Count(),
		Seq: a.seq, Totals: a.totals, Counts: a.counts,
		Revenue: map[string][]revenue{},
		Meters:  make(map[string]savedMeter, len(a.meters)),
		Tokens:  make([]savedToken, 0, len(a.tokens)),
		Latency: a.latency.Export(), Lag: a.lag.Export(),
	}
	for cur, r := range a.revenue {
		st.Revenue[cur] = r[:]
	}
	for drn, m := range a.meters {
		st.Meters[drn] = savedMeter{
			Util: m.util, HasReading: m.hasReading, Seq: m.last.seq,
			Credited: m.last.credited, Consumed: m.last.consumed, Cleared: m.last.cleared,
			Remaining: m.last.remaining, Reason: m.last.reason, NoCredit: m.last.noCredit,
			Final:   m.last.final,
			Settled: m.settled, Next: m.next,
		}
	}
	for k, t := range a.tokens {
		st.Tokens = append(st.Tokens, savedToken{DRN: k.drn, VendID: k.vendID,
			tokenJSON: tokenJSON{Event: t.event, Result: t.result, Outcome: t.outcome,
				IssuedAt: t.issuedAt, SentAt: t.sentAt}})
	}
	// The copy must not share the counters' maps and slices with the
	// live aggregator: it is encoded outside the lock.
	st.Counts.Invalid = maps.Clone(a.counts.Invalid)
	st.Counts.Results = append([]int64(nil), a.counts.Results...)
	st.Counts.Tokens = append([]int64(nil), a.counts.Tokens...)
	for drn, m := range st.Meters {
		m.Settled = append([]string(nil), m.Settled...)
		st.Meters[drn] = m
	}
	return st
}

// restore builds an aggregator from a checkpoint.
func restore(st *stateFile) (*aggregator, error) {
	a := newAggregator()
	a.seq, a.totals = st.Seq, st.Totals
	if len(st.Counts.Results) != numOutcomes || len(st.Counts.Tokens) != numOutcomes {
		return nil, fmt.Errorf("restore state: outcome counts of length %d, want %d",
			len(st.Counts.Results), numOutcomes)
	}
	a.counts = st.Counts
	if a.counts.Invalid == nil {
		a.counts.Invalid = map[string]int64{}
	}
	for cur, r := range st.Revenue {
		if len(r) != numUtilities {
			return nil, fmt.Errorf("restore state: revenue in %s for %d utilities", cur, len(r))
		}
		var v [numUtilities]revenue
		copy(v[:], r)
		a.revenue[cur] = &v
	}
	for drn, m := range st.Meters {
		if m.Util < 0 || m.Util >= numUtilities || len(m.Settled) > settledMemory {
			return nil, fmt.Errorf("restore state: meter %s is malformed", drn)
		}
		a.meters[drn] = &meterState{util: m.Util, hasReading: m.HasReading,
			last: reading{seq: m.Seq, credited: m.Credited, consumed: m.Consumed,
				cleared: m.Cleared, remaining: m.Remaining, reason: m.Reason,
				noCredit: m.NoCredit, final: m.Final},
			settled: m.Settled, next: m.Next % settledMemory}
	}
	for _, t := range st.Tokens {
		ts := &tokenState{event: t.Event, result: t.Result, outcome: t.Outcome,
			issuedAt: t.IssuedAt, sentAt: t.SentAt}
		a.tokens[tokenKey{t.DRN, t.VendID}] = ts
	}
	for _, h := range []struct {
		dst  **hdrhistogram.Histogram
		snap *hdrhistogram.Snapshot
	}{{&a.latency, st.Latency}, {&a.lag, st.Lag}} {
		if h.snap == nil {
			continue
		}
		if err := h.snap.Validate(); err != nil {
			return nil, fmt.Errorf("restore state: histogram: %w", err)
		}
		*h.dst = hdrhistogram.Import(h.snap)
	}
	return a, nil
}

// statePath is where an instance with this consumer name keeps its
// checkpoint inside dir.
func statePath(dir, consumer string) string {
	return filepath.Join(dir, consumer+".state.json")
}

// errNoState reports that no checkpoint exists yet.
var errNoState = errors.New("no state")

func loadState(path string) (*stateFile, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNoState
	}
	if err != nil {
		return nil, fmt.Errorf("load state: %w", err)
	}
	var st stateFile
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("load state %s: %w", path, err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("load state %s: version %d, want %d", path, st.Version, stateVersion)
	}
	return &st, nil
}

// saveState writes the checkpoint atomically: a temporary file in the same
// directory, synced, then renamed over the old one.
func saveState(path string, st *stateFile) error {
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".state-*")
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("save state %s: %w", path, err)
	}
	return nil
}
