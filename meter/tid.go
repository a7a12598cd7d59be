package meter

import (
	"slices"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

// The TID memory is one sorted slice whose capacity is the depth, allocated
// once. Lookups are binary searches; an insert shifts at most depth
// entries, which for tens of TIDs costs less than any tree.

// tidOutcome checks a TID against the memory: below the oldest stored TID
// is old_error, a stored one used_error (IEC 62055-41 §7.3.7).
func (m *Meter) tidOutcome(tid uint32) sts.Outcome {
	if len(m.tids) == 0 {
		return sts.Accept
	}
	if tid < m.tids[0] {
		return sts.OldError
	}
	if _, found := slices.BinarySearch(m.tids, tid); found {
		return sts.UsedError
	}
	return sts.Accept
}

// storeTID remembers an accepted TID. When the memory is full the smallest
// TID is dropped, so the floor rises. The caller has checked tidOutcome.
func (m *Meter) storeTID(tid uint32) {
	if len(m.tids) == cap(m.tids) {
		copy(m.tids, m.tids[1:])
		m.tids = m.tids[:len(m.tids)-1]
	}
	i, _ := slices.BinarySearch(m.tids, tid)
	m.tids = slices.Insert(m.tids, i, tid)
}

// clearTIDs empties the TID memory, as a roll-over key change does.
func (m *Meter) clearTIDs() { m.tids = m.tids[:0] }
