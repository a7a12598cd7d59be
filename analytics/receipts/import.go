package receipts

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// ErrNoReceipts is reported for an export that holds no receipt at all:
// empty, or only messages that are not receipts (payments, notices,
// fragments). See [Summary.Receipts].
var ErrNoReceipts = errors.New("no receipts found")

// Config bounds an import. The zero value is ready to use.
type Config struct {
	// Split bounds line and message sizes; see [SplitConfig].
	Split SplitConfig
}

// Summary counts what an import found.
type Summary struct {
	// Lines is the number of input lines read.
	Lines int `json:"lines"`
	// Messages is the number of report rows: message parts.
	Messages   int `json:"messages"`
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
	Rejected   int `json:"rejected"`
	// RejectedBy counts rejected rows by [ReasonCode].
	RejectedBy map[ReasonCode]int `json:"rejected_by_reason"`
	Skipped    int                `json:"skipped"`
	// SkippedBy counts skipped rows by [ReasonCode].
	SkippedBy map[ReasonCode]int `json:"skipped_by_reason"`
	// DistinctTokens is the number of distinct accepted credit tokens.
	DistinctTokens int `json:"distinct_tokens"`
}

// Receipts returns the number of rows that are receipts: accepted,
// duplicate and rejected ones, every row but the skipped.
func (s *Summary) Receipts() int { return s.Accepted + s.Duplicates + s.Rejected }

// Add counts one row.
func (s *Summary) Add(r *Receipt) {
	s.Messages++
	switch r.Status {
	case StatusAccept:
		s.Accepted++
	case StatusDuplicate:
		s.Duplicates++
	case StatusReject:
		s.Rejected++
		if s.RejectedBy == nil {
			s.RejectedBy = make(map[ReasonCode]int)
		}
		s.RejectedBy[r.Code]++
	case StatusSkip:
		s.Skipped++
		if s.SkippedBy == nil {
			s.SkippedBy = make(map[ReasonCode]int)
		}
		s.SkippedBy[r.Code]++
	}
}

// ctxCheckEvery is how many messages pass between checks of the context.
const ctxCheckEvery = 1024

// Import reads an export from r and calls emit with every report row, in
// input order. It streams: memory grows with the number of distinct
// tokens, not with the size of the input. It stops at the first error of
// emit, of the reader or of the context, and returns an error wrapping
// [ErrBinary] for input that is not text. The *Receipt passed to emit is
// valid only during the call.
func Import(ctx context.Context, r io.Reader, cfg Config, emit func(*Receipt) error) (
	Summary, error) {
	var sum Summary
	sp := NewSplitter(r, cfg.Split)
	dd := NewDeduper()
	for n := 0; ; n++ {
		if n%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return sum, fmt.Errorf("import receipts: %w", err)
			}
		}
		m, err := sp.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return sum, fmt.Errorf("import receipts: %w", err)
		}
		rec := Parse(m)
		dd.Check(&rec)
		sum.Add(&rec)
		if err := emit(&rec); err != nil {
			return sum, fmt.Errorf("import receipts: line %d: %w", rec.Line, err)
		}
	}
	sum.Lines = sp.Lines()
	sum.DistinctTokens = dd.Len()
	return sum, nil
}
