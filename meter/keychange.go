package meter

import (
	"math/bits"
	"time"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

// Key type rules, in one place. IEC 62055-41 §6.5.2 (key types) and the
// key type transition table (Table 33), as far as PROTOCOL.md §8.1 states
// them:
//   - credit tokens are taken under DITK, DUTK and DCTK, never under a DDTK
//     (ddtk_error); management tokens under all four;
//   - a DCTK (common key, for erasable magnetic cards) only follows a DCTK:
//     changing into or out of a DCTK from another type is key_type_error;
//   - every other change is allowed, e.g. DUTK to DUTK or to DDTK.
var (
	creditKeyTypes = [4]bool{
		sts.KeyTypeDITK: true,
		sts.KeyTypeDDTK: false,
		sts.KeyTypeDUTK: true,
		sts.KeyTypeDCTK: true,
	}
	// keyTypeChanges[from][to] reports whether a key of type from may be
	// replaced by one of type to.
	keyTypeChanges = [4][4]bool{
		sts.KeyTypeDITK: {sts.KeyTypeDITK: true, sts.KeyTypeDDTK: true, sts.KeyTypeDUTK: true},
		sts.KeyTypeDDTK: {sts.KeyTypeDITK: true, sts.KeyTypeDDTK: true, sts.KeyTypeDUTK: true},
		sts.KeyTypeDUTK: {sts.KeyTypeDITK: true, sts.KeyTypeDDTK: true, sts.KeyTypeDUTK: true},
		sts.KeyTypeDCTK: {sts.KeyTypeDCTK: true},
	}
)

// creditAllowed reports whether the meter takes credit under a key type.
func creditAllowed(kt uint8) bool { return creditKeyTypes[kt&3] }

// keyTypeChangeAllowed reports whether a key change may move from one key
// type to another.
func keyTypeChangeAllowed(from, to uint8) bool { return keyTypeChanges[from&3][to&3] }

// keyChangeSet holds the sections of an incomplete key change set.
type keyChangeSet struct {
	// since is when the first section of the set arrived (Unix ns).
	since int64
	// have has bit i set when blocks[i] holds the (i+1)th section.
	have uint8
	// blocks are the sections' plaintext blocks, CRC checked.
	blocks [4]uint64
}

// sectionIndex returns 0 to 3 for the 1st to 4th key change section.
func sectionIndex(subclass uint8) int {
	switch subclass {
	case sts.SubKeyChange1:
		return 0
	case sts.SubKeyChange2:
		return 1
	case sts.SubKeyChange3:
		return 2
	}
	return 3
}

// keyChangeSections returns how many sections complete a set at this meter.
func (m *Meter) keyChangeSections() int { return sts.KeyChangeSections(m.ea.KeyLen()) }

// keyChange stores a key change section and, when the set is complete, puts
// the new key into effect (PROTOCOL.md §9). Sections carry no TID and are
// neither TID- nor KEN-checked; they may arrive in any order.
func (m *Meter) keyChange(f *sts.Fields, block uint64, r *Result, t int64) {
	n := m.keyChangeSections()
	i := sectionIndex(f.SubClass)
	if i >= n {
		// A 3rd or 4th section at a meter with a 64-bit key.
		r.Outcome = sts.FunctionError
		return
	}

	m.expireKeyChange(t)
	if m.kc == nil {
		m.kc = &keyChangeSet{since: t}
	}
	m.kc.blocks[i] = block
	m.kc.have |= 1 << i
	if m.kc.have != 1<<n-1 {
		r.Outcome = sts.KCTPending
		r.Sections = bits.OnesCount8(m.kc.have)
		return
	}

	var sections [4]sts.Fields
	for j := range n {
		sections[j], _ = sts.ParseBlock(sts.ClassManagement, m.kc.blocks[j])
	}
	m.kc = nil
	r.Outcome = m.applyKeyChange(sections[:n])
}

// expireKeyChange forgets an incomplete set older than the timeout.
func (m *Meter) expireKeyChange(t int64) {
	if m.kc != nil && t-m.kc.since >= int64(m.kcTimeout) {
		m.kc = nil
	}
}

// applyKeyChange checks a complete set and replaces the key and its
// identity together.
func (m *Meter) applyKeyChange(sections []sts.Fields) sts.Outcome {
	kc, err := sts.AssembleKeyChange(m.ea.KeyLen(), sections)
	if err != nil {
		return sts.FunctionError
	}
	if kc.KRN < 1 || kc.KRN > 9 || kc.TariffIndex > 99 || kc.SGC > 999_999 {
		return sts.RangeError
	}
	if !keyTypeChangeAllowed(m.kt, kc.KeyType) {
		return sts.KeyTypeError
	}
	base := m.base
	if kc.RO {
		next, ok := base.Next()
		if !ok {
			// No base date follows 2035: the roll-over cannot happen.
			return sts.RangeError
		}
		base = next
	}
	if err := m.setKey(kc.NewKey); err != nil {
		return sts.FunctionError
	}

	m.krn, m.kt, m.ken, m.ti = kc.KRN, kc.KeyType, kc.KEN, kc.TariffIndex
	if len(sections) == 4 {
		m.sgc = kc.SGC
	}
	if kc.RO {
		// PROTOCOL.md §4: a roll-over clears the TID memory as the meter
		// moves to the next base date; the new key stops old tokens.
		m.clearTIDs()
		m.base = base
	}
	return sts.Accept
}

// PendingKeyChange returns how many sections of an incomplete key change
// set the meter holds at the simulated time now (0 when none or expired).
func (m *Meter) PendingKeyChange(now time.Time) int {
	m.expireKeyChange(m.clamp(now))
	if m.kc == nil {
		return 0
	}
	return bits.OnesCount8(m.kc.have)
}
