package vending

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

// The decoders of outside input never panic, and every error they return
// for a request body is one the API answers with a 4xx.

func FuzzDecodeVendRequest(f *testing.F) {
	for _, s := range []string{
		`{"meter":"47000000019","amount":"100.00","currency":"KES"}`,
		`{"meter":"47000000019","units":"5.0"}`,
		`{"meter":"47000000019","amount":100.5}`,
		`{"meter":"47000000019","amount":true}`,
		`{"meter":1}`, `[]`, `{"meter":"x","amount":"1e9"}`, `{} {}`, ``, `{"units":"."}`,
		`{"meter":"47000000019","amount":"99999999999999999999999"}`,
		`{"meter":"47000000019","meter":"47000000027","amount":"1"}`,
		`{"meter":"47000000019","AMOUNT":"1","amount":"2"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeVendRequest(body)
		if err != nil {
			checkClientError(t, asFieldError(err))
			return
		}
		checkNoDuplicateKey(t, body)
		o, err := r.order()
		if err != nil {
			checkClientError(t, err)
			return
		}
		if o.money && o.units != 0 || !o.money && o.amount != 0 {
			t.Errorf("order %+v mixes money and units", o)
		}
	})
}

func FuzzDecodeBatchRequest(f *testing.F) {
	for _, s := range []string{
		`{"vends":[{"meter":"47000000019","amount":"100.00","idempotency_key":"k"}]}`,
		`{"vends":[{"meter":"47000000019","units":"5.0"},{"meter":"47000000019","tip":1}]}`,
		`{"vends":[]}`, `{"vends":[3]}`, `{"vends":null}`, `[]`, `{"vends":[{}]} {}`,
		`{"vends":[{"meter":"47000000019","amount":true}]}`,
		`{"vends":[{"meter":"47000000019","meter":"47000000019","amount":"1"}]}`,
		`{"vends":[],"vends":[{"meter":"47000000019","amount":"1"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		items, err := DecodeBatchRequest(body)
		if err != nil {
			checkClientError(t, asFieldError(err))
			return
		}
		checkNoDuplicateKey(t, body)
		if len(items) == 0 || len(items) > MaxBatchVends {
			t.Errorf("%d items accepted", len(items))
		}
		for _, it := range items {
			if _, err := it.order(); err != nil {
				checkClientError(t, err)
			}
		}
	})
}

func FuzzDecodeManagementRequest(f *testing.F) {
	for _, s := range []string{
		`{"function":"set_power_limit","watts":5000}`, `{"function":"clear_credit"}`,
		`{"function":"clear_credit","register":65535}`, `{"function":"clear_tamper"}`,
		`{"function":"set_phase_unbalance","watts":-1}`, `{"watts":1.5}`, `{"function":null}`,
		`{"function":"clear_credit","function":"set_power_limit","watts":5000}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeManagementRequest(body)
		if err != nil {
			checkClientError(t, asFieldError(err))
			return
		}
		checkNoDuplicateKey(t, body)
		o, err := r.order()
		if err != nil {
			checkClientError(t, err)
			return
		}
		if o.watts != nil && *o.watts > sts.MaxAmount {
			t.Errorf("watts %d beyond the amount field", *o.watts)
		}
	})
}

func FuzzDecodeKeyChangeRequest(f *testing.F) {
	for _, s := range []string{
		`{"krn":2}`, `{"sgc":"123457","ti":5}`, `{"base_date":2035,"ro":true}`,
		`{"kt":9}`, `{"ken":-1}`, `{"sgc":12}`, `{"base_date":"2014"}`, `{"krn":2,"KRN":3}`,
	} {
		f.Add([]byte(s))
	}
	cur := Meter{DRN: "47000000019", Utility: Electricity, MfrCode: 47, SGC: "100001", TI: 1,
		KRN: 1, KT: 2, KEN: 255, BaseDate: sts.Base2014, EA: sts.EA11, DKGA: sts.DKGA04,
		Tariff: TariffDomestic}
	if err := cur.Validate(); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeKeyChangeRequest(body)
		if err != nil {
			checkClientError(t, asFieldError(err))
			return
		}
		checkNoDuplicateKey(t, body)
		next, _, err := r.apply(cur)
		if err != nil {
			checkClientError(t, err)
			return
		}
		if err := next.Validate(); err != nil {
			t.Errorf("apply gave an invalid meter: %v", err)
		}
	})
}

func FuzzParseDefinition(f *testing.F) {
	fl, err := NewFleet(FleetConfig{Meters: 2, Seed: 1})
	if err != nil {
		f.Fatal(err)
	}
	good, _ := fl.Definition.Marshal()
	f.Add(good)
	f.Add([]byte(`{"version":1,"tariffs":[],"meters":[]}`))
	f.Add([]byte(`{"version":1,"meters":[{"drn":"47000000019"}]}`))
	f.Add([]byte(`{"version":1,"meters":[{"drn":"47000000019","drn":"47000000027"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseDefinition(data)
		if err != nil {
			checkClientError(t, asFieldError(err))
			return
		}
		checkNoDuplicateKey(t, data)
		if err := d.Validate(); err != nil {
			t.Errorf("parsed definition does not validate: %v", err)
		}
	})
}

// FuzzHandleResult feeds arbitrary result payloads to a service with one
// vend in delivery: the totals stay conserved whatever arrives.
func FuzzHandleResult(f *testing.F) {
	e := newEnv(f, 2, nil)
	m := e.fleet.Definition.Meters[0]
	r := e.vend(m.DRN, "50")
	f.Add(m.DRN, resultPayload(r.VendID, r.Token, sts.Accept))
	f.Add(m.DRN, resultPayload(r.VendID, r.Token, sts.UsedError))
	f.Add(m.DRN, []byte(`{"vend_id":"`+r.VendID+`","token":"`+r.Token+`","outcome":"nope"}`))
	f.Add("x", []byte(`{`))
	f.Fuzz(func(t *testing.T, drn string, payload []byte) {
		e.svc.handleResult(resultIn{drn: drn, payload: payload, at: e.wall.Now()})
		if s := e.svc.Summary(); !s.Conserved() || s.TokensVended != 1 {
			t.Errorf("summary not conserved: %+v", s)
		}
	})
}

// checkClientError fails unless err is answered with a 4xx and a message.
func checkClientError(t *testing.T, err error) {
	t.Helper()
	status, body := errorStatus(err)
	if status < 400 || status >= 500 || body.Error == "" {
		t.Errorf("error %v answered %d %+v", err, status, body)
	}
	var fe *FieldError
	if errors.As(err, &fe) && fe.Field == "" {
		t.Errorf("field error without a field: %v", err)
	}
}

// checkNoDuplicateKey fails when data, taken by a decoder, is valid JSON
// with a key twice in one object.
func checkNoDuplicateKey(t *testing.T, data []byte) {
	t.Helper()
	if !json.Valid(data) {
		return
	}
	if path, _ := firstDuplicate(data); path != "" {
		t.Errorf("%q taken with %s twice", data, path)
	}
}

// FuzzHTTPVend sends arbitrary bodies through the whole handler.
func FuzzHTTPVend(f *testing.F) {
	e := newEnv(f, 2, nil)
	h := e.svc.Handler()
	drn := e.fleet.Definition.Meters[0].DRN
	f.Add([]byte(`{"meter":"`+drn+`","amount":"20.00"}`), "k1")
	f.Add([]byte(`{"meter":"`+drn+`","units":"0.1"}`), "")
	f.Add([]byte(`{"meter":"`+drn+`"}`), "\x00")
	f.Add([]byte(`{"meter":"`+drn+`","amount":"20.00","amount":"1.00"}`), "k2")
	f.Fuzz(func(t *testing.T, body []byte, key string) {
		req := httptest.NewRequest("POST", "/v1/vend", bytes.NewReader(body))
		if key != "" {
			req.Header["Idempotency-Key"] = []string{key}
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req.WithContext(context.Background()))
		if w.Code >= 500 {
			t.Errorf("body %q key %q: %d %s", body, key, w.Code, w.Body)
		}
		if w.Code == http.StatusCreated {
			if _, err := DecodeVendRequest(body); err != nil {
				t.Errorf("201 for a body that does not decode: %v", err)
			}
			checkNoDuplicateKey(t, body)
		}
	})
}
