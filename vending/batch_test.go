package vending

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// batchAnswer is the body of POST /v1/vend/batch as a client reads it.
type batchAnswer struct {
	Results []struct {
		Status   int           `json:"status"`
		Replayed bool          `json:"replayed"`
		Vend     *VendResponse `json:"vend"`
		Error    *apiError     `json:"error"`
	} `json:"results"`
}

func TestHTTPBatch(t *testing.T) {
	e := newEnv(t, 4, nil)
	a := newAPI(t, e)
	elec := e.meterOf(isUtility(Electricity)).DRN
	water := e.meterOf(isUtility(Water)).DRN
	body := fmt.Sprintf(`{"vends":[
		{"meter":%q,"amount":"100.00","idempotency_key":"b-1"},
		{"meter":%q,"units":"2.5"},
		{"meter":%q,"amount":"0.01"},
		{"meter":"01234567897","amount":"10"},
		{"meter":%q,"amount":"20.00"},
		{"meter":%q,"amount":"100.00","idempotency_key":"b-1"}]}`,
		elec, water, elec, elec, elec)
	var got batchAnswer
	resp := a.do("POST", "/v1/vend/batch", body, nil, &got)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("batch: %d", resp.StatusCode)
	}
	if len(got.Results) != 6 {
		t.Fatalf("%d results for 6 purchases", len(got.Results))
	}
	wantStatus := []int{201, 201, 422, 404, 201, 201}
	for i, r := range got.Results {
		if r.Status != wantStatus[i] {
			t.Errorf("result %d: status %d, want %d (%+v)", i, r.Status, wantStatus[i], r.Error)
		}
		if (r.Vend == nil) == (r.Error == nil) {
			t.Errorf("result %d: want exactly one of vend and error: %+v", i, r)
		}
	}
	r := got.Results
	if r[2].Error == nil || r[2].Error.Rule != RuleBelowMinimum {
		t.Errorf("tiny purchase: %+v, want rule %s", r[2].Error, RuleBelowMinimum)
	}
	if r[3].Error == nil || r[3].Error.Field != "meter" {
		t.Errorf("unknown meter: %+v, want field meter", r[3].Error)
	}
	// The repeat under b-1 is the first purchase again, not a second one.
	if r[0].Vend == nil || r[5].Vend == nil || r[5].Vend.VendID != r[0].Vend.VendID ||
		!r[5].Replayed || r[0].Replayed {
		t.Errorf("repeat under one key: first %+v, repeat %+v", r[0], r[5])
	}
	// Purchases for one meter take its TIDs in the order given.
	if r[0].Vend != nil && r[4].Vend != nil && r[4].Vend.TID <= r[0].Vend.TID {
		t.Errorf("TIDs of one meter: %d then %d, want increasing", r[0].Vend.TID,
			r[4].Vend.TID)
	}
	for _, i := range []int{0, 1, 4} {
		if r[i].Vend != nil {
			e.decode(r[i].Vend.Meter, r[i].Vend.Token)
		}
	}
	if n := len(e.pub.take()); n != 3 {
		t.Errorf("published %d tokens, want 3", n)
	}
	if s := e.svc.Summary(); s.TokensVended != 3 {
		t.Errorf("tokens vended %d, want 3", s.TokensVended)
	}
}

func TestHTTPBatchRefusesBadBodies(t *testing.T) {
	e := newEnv(t, 2, nil)
	a := newAPI(t, e)
	drn := e.meterOf(isUtility(Electricity)).DRN
	many := strings.Repeat(`{"meter":"`+drn+`","amount":"1"},`, MaxBatchVends)
	for _, tc := range []struct {
		name, body, field string
	}{
		{"empty", `{"vends":[]}`, "vends"},
		{"missing", `{}`, "vends"},
		{"too many", `{"vends":[` + many + `{"meter":"` + drn + `","amount":"1"}]}`, "vends"},
		{"unknown item field", `{"vends":[{"meter":"` + drn + `","amount":"1"},` +
			`{"meter":"` + drn + `","tip":"1"}]}`, "vends[1].tip"},
		{"bad item type", `{"vends":[{"meter":"` + drn + `","amount":true}]}`,
			"vends[0].amount"},
		{"item not an object", `{"vends":[3]}`, "vends[0]"},
		{"not an object", `[]`, "body"},
		{"unknown field", `{"vends":[],"x":1}`, "x"},
		{"duplicate item key", `{"vends":[{"meter":"` + drn + `","amount":"1"},{"meter":"` +
			drn + `","amount":"1","amount":"9"}]}`, "vends[1].amount"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got apiError
			resp := a.do("POST", "/v1/vend/batch", tc.body, nil, &got)
			if resp.StatusCode != http.StatusBadRequest || got.Field != tc.field {
				t.Errorf("%d %+v, want 400 naming %s", resp.StatusCode, got, tc.field)
			}
		})
	}
	if n := len(e.pub.take()); n != 0 {
		t.Errorf("refused batches published %d tokens", n)
	}
}

func TestVendBatchMatchesVend(t *testing.T) {
	e := newEnv(t, 3, nil)
	var items []BatchItem
	for i := range 30 {
		m := e.svc.cfg.Definition.Meters[i%3].DRN
		items = append(items, BatchItem{VendRequest: VendRequest{Meter: m, Amount: "10.00"},
			IdempotencyKey: fmt.Sprintf("k-%d", i)})
	}
	ctx := context.Background()
	first := e.svc.VendBatch(ctx, items)
	lastTID := map[string]uint32{}
	for i, r := range first {
		if r.Err != nil {
			t.Fatalf("item %d: %v", i, r.Err)
		}
		if r.Vend.TID <= lastTID[r.Vend.Meter] {
			t.Errorf("item %d: TID %d after %d for meter %s", i, r.Vend.TID,
				lastTID[r.Vend.Meter], r.Vend.Meter)
		}
		lastTID[r.Vend.Meter] = r.Vend.TID
	}
	// One by one, the same keys replay the batch's vends.
	for i, it := range items {
		v, err := e.svc.Vend(ctx, it.VendRequest, it.IdempotencyKey)
		if err != nil || !v.Replayed || v.VendID != first[i].Vend.VendID {
			t.Errorf("item %d again: %+v, %v", i, v, err)
		}
	}
	// A cancelled batch fails every purchase and vends nothing.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	items[0].IdempotencyKey = "fresh"
	for i, r := range e.svc.VendBatch(cctx, items[:1]) {
		if !errors.Is(r.Err, context.Canceled) {
			t.Errorf("cancelled item %d: %v", i, r.Err)
		}
	}
	if s := e.svc.Summary(); s.TokensVended != 30 {
		t.Errorf("tokens vended %d, want 30", s.TokensVended)
	}
	b, _ := json.Marshal(first[0].Vend)
	if !strings.Contains(string(b), `"vend_id"`) {
		t.Errorf("vend JSON %s", b)
	}
}

func TestBatchKeySharedAcrossMeters(t *testing.T) {
	e := newEnv(t, 4, nil)
	a := newAPI(t, e)
	var items []string
	for _, m := range e.fleet.Definition.Meters {
		items = append(items, fmt.Sprintf(`{"meter":%q,"amount":"20.00","idempotency_key":"k"}`,
			m.DRN))
	}
	body := `{"vends":[` + strings.Join(items, ",") + `]}`
	for round := range 5 {
		var got batchAnswer
		a.do("POST", "/v1/vend/batch", body, nil, &got)
		for i, r := range got.Results {
			// The first under the key is the purchase made, every time.
			want := http.StatusConflict
			if i == 0 {
				want = http.StatusCreated
			}
			if r.Status != want {
				t.Errorf("round %d, item %d: status %d, want %d", round, i, r.Status, want)
			}
			if r.Error != nil && r.Error.Field != "idempotency_key" {
				t.Errorf("round %d, item %d: error names %q, want idempotency_key", round, i,
					r.Error.Field)
			}
		}
	}
	var bad batchAnswer
	a.do("POST", "/v1/vend/batch", fmt.Sprintf(`{"vends":[{"meter":%q,"amount":"1",`+
		`"idempotency_key":"a b"}]}`, e.fleet.Definition.Meters[0].DRN), nil, &bad)
	if len(bad.Results) != 1 || bad.Results[0].Error == nil ||
		bad.Results[0].Error.Field != "idempotency_key" {
		t.Errorf("invalid key: %+v, want an error naming idempotency_key", bad.Results)
	}
	if s := e.svc.Summary(); s.TokensVended != 1 {
		t.Errorf("tokens vended %d, want 1", s.TokensVended)
	}
}

func TestBatchRefusesIdempotencyHeader(t *testing.T) {
	e := newEnv(t, 1, nil)
	a := newAPI(t, e)
	body := fmt.Sprintf(`{"vends":[{"meter":%q,"amount":"20.00"}]}`,
		e.fleet.Definition.Meters[0].DRN)
	var got apiError
	resp := a.do("POST", "/v1/vend/batch", body, map[string]string{"Idempotency-Key": "h"}, &got)
	if resp.StatusCode != http.StatusBadRequest || got.Field != "Idempotency-Key" {
		t.Errorf("%d %+v, want 400 naming Idempotency-Key", resp.StatusCode, got)
	}
	if s := e.svc.Summary(); s.TokensVended != 0 {
		t.Errorf("tokens vended %d, want 0", s.TokensVended)
	}
}

func TestSequences(t *testing.T) {
	it := func(meter, key string) BatchItem {
		return BatchItem{VendRequest: VendRequest{Meter: meter}, IdempotencyKey: key}
	}
	for _, tc := range []struct {
		name  string
		items []BatchItem
		want  [][]int
	}{
		{"distinct", []BatchItem{it("a", ""), it("b", ""), it("c", "")}, [][]int{{0}, {1}, {2}}},
		{"one meter", []BatchItem{it("a", ""), it("b", ""), it("a", "")}, [][]int{{0, 2}, {1}}},
		{"one key", []BatchItem{it("a", "k"), it("b", ""), it("c", "k")}, [][]int{{0, 2}, {1}}},
		{"key links meters", []BatchItem{it("a", ""), it("b", ""), it("a", "k"), it("b", "k"),
			it("c", "")}, [][]int{{0, 1, 2, 3}, {4}}},
		{"empty keys apart", []BatchItem{it("a", ""), it("b", "")}, [][]int{{0}, {1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, sequences(tc.items)); diff != "" {
				t.Errorf("sequences (-want +got):\n%s", diff)
			}
		})
	}
}
