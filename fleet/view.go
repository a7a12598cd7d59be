package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/stsfleet/stsfleet/meter"
	"github.com/stsfleet/stsfleet/vending"
)

// MeterView is what GET /v1/meters/{drn} shows of one meter: credit,
// relay, TID memory and its latest token outcomes. It holds no key.
type MeterView struct {
	DRN     string          `json:"drn"`
	Utility vending.Utility `json:"utility"`
	Unit    string          `json:"unit"`
	// Online reports whether the meter is connected to the broker.
	Online bool `json:"online"`
	// SimTime is the simulated time the meter has run to.
	SimTime time.Time `json:"sim_time"`
	// Credit is the units register: what is left and its totals, as
	// decimals in Unit.
	Credit RegisterView `json:"credit"`
	// Relay is "closed" or "open"; RelayReason says why it is open.
	Relay       string `json:"relay"`
	RelayReason string `json:"relay_reason,omitempty"`
	// DemandW is the premises' demand (W, or L/h for water and gas).
	DemandW uint32 `json:"demand_w"`
	// Key names the decoder key, without the key.
	Key meter.KeyIdentity `json:"key"`
	// TIDs is the TID memory, oldest first.
	TIDs []uint32 `json:"tids"`
	// KeypadLocked reports a keypad locked after repeated rejections.
	KeypadLocked bool `json:"keypad_locked"`
	// Waiting is the number of bought tokens not yet received.
	Waiting int `json:"waiting"`
	// Recent are the latest token outcomes, oldest first.
	Recent []OutcomeView `json:"recent"`
}

// RegisterView is a credit register as decimals.
type RegisterView struct {
	Remaining string `json:"remaining"`
	Credited  string `json:"credited"`
	Consumed  string `json:"consumed"`
	Cleared   string `json:"cleared"`
}

// OutcomeView is one token outcome of a meter.
type OutcomeView struct {
	VendID   string    `json:"vend_id,omitempty"`
	Token    string    `json:"token"`
	Source   string    `json:"source"`
	Outcome  string    `json:"outcome"`
	Credited string    `json:"credited"`
	SimTime  time.Time `json:"sim_time"`
}

func registerView(r meter.Register) RegisterView {
	return RegisterView{Remaining: r.Remaining.Format(1, 1), Credited: r.Credited.Format(1, 1),
		Consumed: r.Consumed.Format(1, 1), Cleared: r.Cleared.Format(1, 1)}
}

// view builds the meter's view on its own goroutine.
func (a *actor) view() MeterView {
	s := a.m.Snapshot()
	v := MeterView{
		DRN: a.drn, Utility: a.def.Utility, Unit: a.unit, Online: a.client != nil,
		SimTime: s.At, Credit: registerView(s.Units), Relay: "closed", DemandW: s.Demand,
		Key: s.Key, TIDs: a.m.State().TIDs, KeypadLocked: s.KeypadLocked,
		Waiting: len(a.waiting), Recent: make([]OutcomeView, 0, len(a.recent)),
	}
	if !s.Relay.Closed {
		v.Relay, v.RelayReason = "open", s.Relay.Reason.String()
	}
	for _, o := range a.recent {
		v.Recent = append(v.Recent, OutcomeView{VendID: o.vendID, Token: o.token,
			Source: o.source, Outcome: o.outcome.String(), Credited: o.credited.Format(1, 1),
			SimTime: o.simAt})
	}
	return v
}

// Meter returns the current view of the meter with this DRN, read on the
// meter's goroutine.
func (f *Fleet) Meter(ctx context.Context, drn string) (MeterView, error) {
	var v MeterView
	if err := f.ask(ctx, drn, func(a *actor) { v = a.view() }); err != nil {
		return MeterView{}, fmt.Errorf("view meter: %w", err)
	}
	return v, nil
}

// Totals are the registers of a fleet's meters summed by utility, in
// [meter.Milli] of kWh or m3.
type Totals map[vending.Utility]meter.Register

// Totals sums the units registers of every meter by utility, each read on
// its meter's goroutine. After Final they no longer move.
func (f *Fleet) Totals(ctx context.Context) (Totals, error) {
	regs := make(chan struct {
		u vending.Utility
		r meter.Register
	}, len(f.actors))
	errs := f.each(ctx, func(a *actor) error {
		regs <- struct {
			u vending.Utility
			r meter.Register
		}{a.def.Utility, a.m.Snapshot().Units}
		return nil
	})
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("fleet totals: %w", err)
	}
	close(regs)
	t := Totals{}
	for x := range regs {
		sum := t[x.u]
		sum.Credited += x.r.Credited
		sum.Consumed += x.r.Consumed
		sum.Remaining += x.r.Remaining
		sum.Cleared += x.r.Cleared
		t[x.u] = sum
	}
	return t, nil
}

// Handler serves the fleet's HTTP API:
//
//	GET /v1/meters        the DRNs of the fleet's meters, a JSON array
//	GET /v1/meters/{drn}  one meter's MeterView as JSON
//	GET /v1/fleet         the fleet's Stats as JSON
func (f *Fleet) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/meters", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, f.DRNs())
	})
	mux.HandleFunc("GET /v1/meters/{drn}", func(w http.ResponseWriter, r *http.Request) {
		drn := r.PathValue("drn")
		if !slices.Contains([]int{11, 13}, len(drn)) {
			writeJSON(w, http.StatusBadRequest, apiError{Error: "drn: want 11 or 13 digits",
				Field: "drn"})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		v, err := f.Meter(ctx, drn)
		switch {
		case errors.Is(err, ErrUnknownMeter):
			writeJSON(w, http.StatusNotFound, apiError{Error: err.Error(), Field: "drn"})
		case err != nil:
			writeJSON(w, http.StatusServiceUnavailable, apiError{Error: err.Error()})
		default:
			writeJSON(w, http.StatusOK, v)
		}
	})
	mux.HandleFunc("GET /v1/fleet", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, f.Stats())
	})
	return mux
}

// apiError is the body of an HTTP error.
type apiError struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
