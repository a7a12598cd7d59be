package vending

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/vending/ledger"
)

// meterState is the vendor's state of one meter.
type meterState struct {
	// mu guards every field below. A vend holds it from TID allocation
	// to its ledger commit, so a meter's TIDs are committed in order.
	mu  sync.Mutex
	def Meter
	// cipher is the meter's current decoder key, prepared; nil until
	// first needed and after a key change.
	cipher sts.BlockCipher
	// lastTID is the highest TID issued under the current base date,
	// -1 for none.
	lastTID int64
	// month and monthUnits count the tenths bought in a calendar month,
	// for block tariffs.
	month      string
	monthUnits uint64
	lastVend   string
	// keyChange is the ID of the key change vend in flight, "" for none.
	keyChange string
}

// cipherLocked returns the meter's prepared cipher, deriving the decoder
// key on first use. The key never leaves the cipher.
func (s *Service) cipherLocked(m *meterState) (sts.BlockCipher, error) {
	if m.cipher != nil {
		return m.cipher, nil
	}
	key, err := s.keys.DecoderKey(&m.def)
	if err != nil {
		return nil, err
	}
	c, err := sts.NewCipher(m.def.EA, key, s.cfg.Tables)
	clear(key)
	if err != nil {
		return nil, fmt.Errorf("meter %s: %w", m.def.DRN, err)
	}
	m.cipher = c
	return c, nil
}

// monthUnitsLocked returns the tenths bought in the month of sim.
func (m *meterState) monthUnitsLocked(month string) uint64 {
	if m.month != month {
		return 0
	}
	return m.monthUnits
}

func monthOf(sim time.Time) string { return sim.UTC().Format("2006-01") }

// nextTID returns the TID for a token issued at simulated time now to a
// meter whose last TID is last (-1 for none): the minutes since the base
// date, bumped past last when that minute is taken, so that TIDs are
// strictly increasing (PROTOCOL.md §4, STS 531 CTSA09).
func nextTID(now time.Time, base sts.BaseDate, last int64) (uint32, error) {
	tid, err := sts.TIDAt(now, base)
	if err != nil {
		if now.Before(base.Time()) {
			return 0, ruleErr(RuleBeforeBaseDate, "%v", err)
		}
		return 0, ruleErr(RuleTIDExhausted, "%v", err)
	}
	if int64(tid) <= last {
		if last >= sts.MaxTID {
			return 0, ruleErr(RuleTIDExhausted, "every TID of base date %s is used; "+
				"a key change with roll-over to the next base date is due", base)
		}
		tid = uint32(last + 1)
	}
	return tid, nil
}

// tidWarning returns a warning when tid is within warn of the end of its
// base date, and "" otherwise.
func tidWarning(tid uint32, base sts.BaseDate, warn time.Duration) string {
	at := sts.TIDTime(tid, base)
	end := base.Last()
	if end.Sub(at) > warn {
		return ""
	}
	days := int(end.Sub(at).Hours() / 24)
	return fmt.Sprintf("TIDs of base date %s end at %s UTC, %d days after this token: "+
		"key change the meter with roll-over (ro) to the next base date", base,
		end.Format("2006-01-02 15:04"), days)
}

// meter returns the state of a meter, or an error wrapping
// [ErrUnknownMeter].
func (s *Service) meter(drn string) (*meterState, error) {
	s.mu.RLock()
	m := s.meters[drn]
	s.mu.RUnlock()
	if m == nil {
		return nil, fmt.Errorf("meter %s: %w", drn, ErrUnknownMeter)
	}
	return m, nil
}

func (s *Service) pricer(name string) *pricer {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tariffs[name]
}

func (s *Service) meterCount() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.meters)
}

// load brings the ledger up to the configured definition and loads the
// meters, tariffs and tokens in delivery.
func (s *Service) load(ctx context.Context) error {
	if d := s.cfg.Definition; d != nil {
		if err := d.Validate(); err != nil {
			return fmt.Errorf("fleet definition: %w", err)
		}
		if err := s.checkKeys(d); err != nil {
			return err
		}
		ops := make([]ledger.Op, 0, len(d.Tariffs)+len(d.Meters))
		for i := range d.Tariffs {
			b, _ := json.Marshal(d.Tariffs[i])
			ops = append(ops, ledger.PutTariff(d.Tariffs[i].Name, b))
		}
		now := s.wall()
		for i := range d.Meters {
			b, _ := json.Marshal(d.Meters[i])
			ops = append(ops, ledger.AddMeter(d.Meters[i].DRN, b, now))
		}
		if err := s.led.Submit(ctx, ops...); err != nil {
			return fmt.Errorf("register fleet: %w", err)
		}
	}
	if err := s.loadTariffs(ctx); err != nil {
		return err
	}
	if err := s.loadMeters(ctx); err != nil {
		return err
	}
	counts, err := s.led.Counts(ctx)
	if err != nil {
		return err
	}
	s.stats.load(counts)
	open, err := s.led.OpenVends(ctx)
	if err != nil {
		return err
	}
	for _, v := range open {
		s.trackLoaded(v)
	}
	return s.loadSeen(ctx)
}

// checkKeys makes sure every meter's DKGA has a vending key.
func (s *Service) checkKeys(d *Definition) error {
	for i := range d.Meters {
		if !s.keys.Has(d.Meters[i].DKGA) {
			return &FieldError{Field: fmt.Sprintf("meters[%d].dkga", i), Err: fmt.Errorf(
				"DKGA%s: %w", d.Meters[i].DKGA, ErrNoVendingKey)}
		}
	}
	return nil
}

func (s *Service) loadTariffs(ctx context.Context) error {
	stored, err := s.led.Tariffs(ctx)
	if err != nil {
		return err
	}
	for name, b := range stored {
		var t Tariff
		if err := t.UnmarshalJSON(b); err != nil {
			return fmt.Errorf("tariff %s in the ledger: %w", name, err)
		}
		p, _ := t.compile()
		s.tariffs[name] = p
	}
	return nil
}

func (s *Service) loadMeters(ctx context.Context) error {
	rows, err := s.led.Meters(ctx)
	if err != nil {
		return err
	}
	differ := 0
	cfgMeters := map[string]*Meter{}
	if d := s.cfg.Definition; d != nil {
		for i := range d.Meters {
			cfgMeters[d.Meters[i].DRN] = &d.Meters[i]
		}
	}
	for _, r := range rows {
		var def Meter
		if err := def.UnmarshalJSON(r.Identity); err != nil {
			return fmt.Errorf("meter %s in the ledger: %w", r.DRN, err)
		}
		if s.tariffs[def.Tariff] == nil {
			return fmt.Errorf("meter %s in the ledger: tariff %q unknown", r.DRN, def.Tariff)
		}
		if c := cfgMeters[r.DRN]; c != nil && *c != def {
			differ++
		}
		s.meters[r.DRN] = &meterState{def: def, lastTID: r.LastTID, month: r.Month,
			monthUnits: r.MonthUnits, lastVend: r.LastVend}
	}
	if differ > 0 {
		s.log.Info("meters differ from the fleet definition; the ledger's identity is kept "+
			"(key changes move meters on)", "meters", differ)
	}
	return nil
}

// RegisterResult is the answer to a fleet registration.
type RegisterResult struct {
	// Meters is the number of meters in the registered definition.
	Meters int `json:"meters"`
	// Added counts meters new to the vendor; Unchanged those it already
	// had with the same identity.
	Added     int `json:"added"`
	Unchanged int `json:"unchanged"`
	// TariffsAdded counts tariffs new to the vendor.
	TariffsAdded int `json:"tariffs_added"`
	// Injection is the decoder key of every meter of the definition,
	// derived from the vendor's key store, when asked for: the fleet's
	// manufacturer needs it and only the vendor can derive it. It is
	// secret.
	Injection Injection `json:"-"`
}

// RegisterFleet adds a fleet definition's meters and tariffs, as an
// external scenario does before it runs meters against this vendor. A
// meter or tariff the vendor already has must be identical, or the call
// fails with [ErrFleetConflict] and changes nothing. With withInjection
// the result carries the decoder keys.
func (s *Service) RegisterFleet(ctx context.Context, d *Definition,
	withInjection bool) (*RegisterResult, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	if err := s.checkKeys(d); err != nil {
		return nil, err
	}
	res := &RegisterResult{Meters: len(d.Meters)}
	// mu is held for writing throughout, so that two registrations do
	// not interleave; vends to registered meters only take it to read.
	s.mu.Lock()
	defer s.mu.Unlock()
	var ops []ledger.Op
	newTariffs := map[string]*pricer{}
	for i := range d.Tariffs {
		t := &d.Tariffs[i]
		b, _ := json.Marshal(t)
		if old := s.tariffs[t.Name]; old != nil {
			ob, _ := json.Marshal(old.tariff)
			if !bytes.Equal(ob, b) {
				return nil, &FieldError{Field: fmt.Sprintf("tariffs[%d]", i), Err: fmt.Errorf(
					"tariff %q: %w", t.Name, ErrFleetConflict)}
			}
			continue
		}
		p, _ := t.compile()
		newTariffs[t.Name] = p
		ops = append(ops, ledger.PutTariff(t.Name, b))
	}
	now := s.wall()
	var added []Meter
	for i := range d.Meters {
		m := d.Meters[i]
		if old := s.meters[m.DRN]; old != nil {
			old.mu.Lock()
			same := old.def == m
			old.mu.Unlock()
			if !same {
				return nil, &FieldError{Field: fmt.Sprintf("meters[%d]", i), Err: fmt.Errorf(
					"meter %s: %w", m.DRN, ErrFleetConflict)}
			}
			res.Unchanged++
			continue
		}
		b, _ := json.Marshal(m)
		ops = append(ops, ledger.AddMeter(m.DRN, b, now))
		added = append(added, m)
	}
	if len(ops) > 0 {
		if err := s.led.Submit(ctx, ops...); err != nil {
			return nil, fmt.Errorf("register fleet: %w", err)
		}
	}
	for name, p := range newTariffs {
		s.tariffs[name] = p
	}
	for _, m := range added {
		s.meters[m.DRN] = &meterState{def: m, lastTID: -1}
	}
	res.Added, res.TariffsAdded = len(added), len(newTariffs)
	if withInjection {
		inj, err := BuildInjection(d, s.keys)
		if err != nil {
			return nil, err
		}
		res.Injection = inj
	}
	s.log.Info("fleet registered", "meters", res.Meters, "added", res.Added)
	return res, nil
}

// Definition returns the fleet as the vendor holds it now, key changes
// included: tariffs by name, meters by DRN.
func (s *Service) Definition() *Definition {
	s.mu.RLock()
	defer s.mu.RUnlock()
	d := &Definition{Version: DefinitionVersion}
	for _, p := range s.tariffs {
		d.Tariffs = append(d.Tariffs, *p.tariff)
	}
	slices.SortFunc(d.Tariffs, func(a, b Tariff) int { return cmp.Compare(a.Name, b.Name) })
	for _, m := range s.meters {
		m.mu.Lock()
		d.Meters = append(d.Meters, m.def)
		m.mu.Unlock()
	}
	slices.SortFunc(d.Meters, func(a, b Meter) int { return cmp.Compare(a.DRN, b.DRN) })
	return d
}

// MeterView is the vendor's view of one meter, GET /v1/meters/{drn}.
type MeterView struct {
	// Meter is the meter's current identity.
	Meter Meter `json:"meter"`
	// Unit is the unit of its credit.
	Unit string `json:"unit"`
	// LastTID is the latest TID issued under the current base date, and
	// LastTIDTime the minute it stands for; absent before the first.
	LastTID     *uint32    `json:"last_tid,omitempty"`
	LastTIDTime *time.Time `json:"last_tid_time,omitempty"`
	// BaseDateEnd is the last minute a TID of the base date expresses.
	BaseDateEnd time.Time `json:"base_date_end"`
	// Month and MonthUnits are the credit bought this month.
	Month      string `json:"month"`
	MonthUnits string `json:"month_units"`
	// LastVendID is the meter's latest vend, the one resend repeats.
	LastVendID string `json:"last_vend_id,omitempty"`
	// KeyChangePending names a key change set waiting for the meter.
	KeyChangePending string `json:"key_change_pending,omitempty"`
	// OpenTokens counts the meter's tokens waiting for a result.
	OpenTokens int `json:"open_tokens"`
	// Warning is set when the TIDs near the end of the base date.
	Warning string `json:"warning,omitempty"`
}

// MeterView returns the vendor's view of a meter.
func (s *Service) MeterView(drn string) (*MeterView, error) {
	m, err := s.meter(drn)
	if err != nil {
		return nil, err
	}
	month := monthOf(s.clock.Now())
	m.mu.Lock()
	v := &MeterView{Meter: m.def, Unit: m.def.Utility.Unit(),
		BaseDateEnd: m.def.BaseDate.Last(), Month: month,
		MonthUnits: formatUnits(m.monthUnitsLocked(month)), LastVendID: m.lastVend,
		KeyChangePending: m.keyChange}
	if m.lastTID >= 0 {
		tid := uint32(m.lastTID)
		at := sts.TIDTime(tid, m.def.BaseDate)
		v.LastTID, v.LastTIDTime = &tid, &at
		v.Warning = tidWarning(tid, m.def.BaseDate, s.cfg.TIDWarning)
	}
	m.mu.Unlock()
	s.outMu.Lock()
	for _, ov := range s.out {
		if ov.meter != drn {
			continue
		}
		for _, t := range ov.tokens {
			if t.state == ledger.Issued {
				v.OpenTokens++
			}
		}
	}
	s.outMu.Unlock()
	return v, nil
}
