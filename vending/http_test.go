package vending

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stsfleet/stsfleet/protocol/sts"
)

const testToken = "s3cret-token"

// api is an HTTP client for the service under test.
type api struct {
	t   *testing.T
	srv *httptest.Server
}

func newAPI(t *testing.T, e *env) *api {
	e.cfg.APIToken = testToken
	e.restart()
	srv := httptest.NewServer(e.svc.Handler())
	t.Cleanup(srv.Close)
	return &api{t: t, srv: srv}
}

// do sends a request and decodes the JSON answer into out (when not nil).
func (a *api) do(method, path, body string, hdr map[string]string, out any) *http.Response {
	a.t.Helper()
	req, err := http.NewRequest(method, a.srv.URL+path, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := a.srv.Client().Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		a.t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			a.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp
}

func TestHTTPVendAndStatus(t *testing.T) {
	e := newEnv(t, 5, nil)
	a := newAPI(t, e)
	m := e.meterOf(isUtility(Electricity))
	var v VendResponse
	resp := a.do("POST", "/v1/vend", `{"meter":"`+m.DRN+`","amount":"100.00","currency":"KES"}`,
		map[string]string{"Idempotency-Key": "pos-1"}, &v)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("vend: %d", resp.StatusCode)
	}
	if v.VendID == "" || len(v.Token) != 20 || v.Units != "4.9" || v.Amount != "100.00" ||
		v.TokenAmount != "59.88" || v.OtherCharges != "40.12" || v.Unit != "kWh" {
		t.Errorf("vend body %+v", v)
	}
	e.decode(m.DRN, v.Token)

	var again VendResponse
	resp = a.do("POST", "/v1/vend", `{"amount": 100, "meter":"`+m.DRN+`","currency":"KES"}`,
		map[string]string{"Idempotency-Key": "pos-1"}, &again)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get(replayHeader) != "true" {
		t.Errorf("repeat: %d replayed %q", resp.StatusCode, resp.Header.Get(replayHeader))
	}
	if diff := cmp.Diff(v, again); diff != "" {
		t.Errorf("repeat differs (-first +repeat):\n%s", diff)
	}
	var e409 apiError
	resp = a.do("POST", "/v1/vend", `{"meter":"`+m.DRN+`","amount":"5"}`,
		map[string]string{"Idempotency-Key": "pos-1"}, &e409)
	if resp.StatusCode != http.StatusConflict || e409.Field != "Idempotency-Key" {
		t.Errorf("conflict: %d %+v", resp.StatusCode, e409)
	}

	var st VendStatus
	resp = a.do("GET", "/v1/vends/"+v.VendID, "", nil, &st)
	if resp.StatusCode != http.StatusOK || st.State != "issued" || st.Attempts != 1 ||
		st.Delivered || len(st.Tokens) != 1 || st.Tokens[0].Token != v.Token {
		t.Errorf("status %d %+v", resp.StatusCode, st)
	}
	e.result(m.DRN, e.pub.take()[0].Msg, sts.Accept)
	a.do("GET", "/v1/vends/"+v.VendID, "", nil, &st)
	if st.State != "accepted" || st.Outcome != "accept" || !st.Delivered {
		t.Errorf("status after accept %+v", st)
	}

	var rs ResendResponse
	resp = a.do("POST", "/v1/meters/"+m.DRN+"/resend", "", nil, &rs)
	if resp.StatusCode != http.StatusOK || rs.VendID != v.VendID || rs.Tokens[0].Attempt != 2 {
		t.Errorf("resend %d %+v", resp.StatusCode, rs)
	}
	if got := e.pub.take(); len(got) != 1 || got[0].Msg.Attempt != 2 {
		t.Errorf("resend published %+v", got)
	}

	var mv MeterView
	a.do("GET", "/v1/meters/"+m.DRN, "", nil, &mv)
	if mv.Meter != m || mv.LastTID == nil || *mv.LastTID != v.TID || mv.LastVendID != v.VendID ||
		mv.MonthUnits != "4.9" {
		t.Errorf("meter view %+v", mv)
	}
	var sum Summary
	a.do("GET", "/v1/summary", "", nil, &sum)
	if sum.TokensVended != 1 || sum.TokensAccepted != 1 || sum.Meters != 5 {
		t.Errorf("summary %+v", sum)
	}
}

func TestHTTPErrors(t *testing.T) {
	e := newEnv(t, 5, func(d *Definition) { d.Meters[0].KT = sts.KeyTypeDDTK })
	a := newAPI(t, e)
	ddtk := e.fleet.Definition.Meters[0].DRN
	drn := e.fleet.Definition.Meters[1].DRN
	for _, tc := range []struct {
		name, method, path, body string
		hdr                      map[string]string
		status                   int
		want                     apiError
	}{
		{"no token", "POST", "/v1/vend", `{}`, map[string]string{"Authorization": ""}, 401,
			apiError{Field: "Authorization"}},
		{"wrong token", "GET", "/v1/summary", ``,
			map[string]string{"Authorization": "Bearer nope"}, 401,
			apiError{Field: "Authorization"}},
		{"malformed", "POST", "/v1/vend", `{"meter":`, nil, 400, apiError{Field: "body"}},
		{"unknown field", "POST", "/v1/vend", `{"meter":"` + drn + `","amount":"1","tip":1}`,
			nil, 400, apiError{Field: "tip"}},
		{"amount type", "POST", "/v1/vend", `{"meter":"` + drn + `","amount":true}`, nil, 400,
			apiError{Field: "amount"}},
		{"duplicate key", "POST", "/v1/vend", `{"meter":"` + ddtk + `","meter":"` + drn +
			`","amount":"1"}`, nil, 400, apiError{Field: "meter"}},
		{"duplicate key, management", "POST", "/v1/meters/" + drn + "/management",
			`{"function":"clear_credit","function":"clear_tamper"}`, nil, 400,
			apiError{Field: "function"}},
		{"duplicate key, key change", "POST", "/v1/meters/" + drn + "/key-change",
			`{"krn":2,"krn":3}`, nil, 400, apiError{Field: "krn"}},
		{"duplicate key, fleet", "POST", "/v1/fleet", `{"version":1,"version":1}`, nil, 400,
			apiError{Field: "version"}},
		{"amount decimals", "POST", "/v1/vend", `{"meter":"` + drn + `","amount":"1.234"}`, nil,
			400, apiError{Field: "amount"}},
		{"unknown meter", "POST", "/v1/vend", `{"meter":"01234567897","amount":"1"}`, nil, 404,
			apiError{Field: "meter"}},
		{"ddtk", "POST", "/v1/vend", `{"meter":"` + ddtk + `","amount":"10"}`, nil, 422,
			apiError{Rule: RuleDDTK}},
		{"below minimum", "POST", "/v1/vend", `{"meter":"` + drn + `","amount":"0.01"}`, nil,
			422, apiError{Rule: RuleBelowMinimum}},
		{"unknown vend", "GET", "/v1/vends/nope", ``, nil, 404, apiError{}},
		{"bad drn", "GET", "/v1/meters/123", ``, nil, 400, apiError{Field: "drn"}},
		{"nothing to resend", "POST", "/v1/meters/" + drn + "/resend", ``, nil, 404, apiError{}},
		{"management function", "POST", "/v1/meters/" + drn + "/management",
			`{"function":"explode"}`, nil, 400, apiError{Field: "function"}},
		{"key change krn", "POST", "/v1/meters/" + drn + "/key-change", `{"krn":0}`, nil, 400,
			apiError{Field: "krn"}},
		{"fleet include", "POST", "/v1/fleet?include=keys", `{}`, nil, 400,
			apiError{Field: "include"}},
		{"fleet version", "POST", "/v1/fleet", `{"version":9}`, nil, 400,
			apiError{Field: "version"}},
		{"no route", "GET", "/v2/vend", ``, nil, 404, apiError{}},
		{"wrong method", "GET", "/v1/vend", ``, nil, 405, apiError{}},
		{"wrong method, batch", "PUT", "/v1/vend/batch", `{}`, nil, 405, apiError{}},
		{"wrong method, vend status", "POST", "/v1/vends/x", ``, nil, 405, apiError{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got apiError
			resp := a.do(tc.method, tc.path, tc.body, tc.hdr, &got)
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d (%+v)", resp.StatusCode, tc.status, got)
			}
			if got.Error == "" || got.Field != tc.want.Field || got.Rule != tc.want.Rule {
				t.Errorf("error body %+v, want field %q rule %q", got, tc.want.Field,
					tc.want.Rule)
			}
		})
	}
	for path, want := range map[string]string{"/v1/vend": "POST", "/v1/vends/x": "GET",
		"/v1/fleet": "GET, POST"} {
		if got := a.do("DELETE", path, ``, nil, nil).Header.Get("Allow"); got != want {
			t.Errorf("DELETE %s: Allow %q, want %q", path, got, want)
		}
	}
	resp, err := http.Get(a.srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("healthz without a token: %d", resp.StatusCode)
	}
}

func TestHTTPManagementKeyChangeAndFleet(t *testing.T) {
	e := newEnv(t, 6, nil)
	a := newAPI(t, e)
	m := e.meterOf(isEA(sts.EA07))
	var mr ManagementResponse
	resp := a.do("POST", "/v1/meters/"+m.DRN+"/management",
		`{"function":"set_power_limit","watts":5000}`, nil, &mr)
	if resp.StatusCode != 201 || mr.Watts == nil || *mr.Watts != 5000 || mr.SubClass != 0 {
		t.Errorf("management %d %+v", resp.StatusCode, mr)
	}
	var kc KeyChangeResponse
	resp = a.do("POST", "/v1/meters/"+m.DRN+"/key-change", `{"krn":2,"ken":200}`, nil, &kc)
	if resp.StatusCode != 201 || len(kc.Tokens) != 2 || kc.To.KRN != 2 || kc.To.KEN != 200 {
		t.Errorf("key change %d %+v", resp.StatusCode, kc)
	}
	var pending apiError
	resp = a.do("POST", "/v1/vend", `{"meter":"`+m.DRN+`","units":"1.0"}`, nil, &pending)
	if resp.StatusCode != http.StatusConflict || pending.Rule != RuleKeyChangePending {
		t.Errorf("vend during key change %d %+v", resp.StatusCode, pending)
	}

	other, err := NewDefinition(FleetConfig{Meters: 2, Seed: 11, MfrCode: 12})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := other.Marshal()
	var reg struct {
		RegisterResult
		Injection json.RawMessage `json:"injection"`
	}
	resp = a.do("POST", "/v1/fleet?include=injection", string(body), nil, &reg)
	if resp.StatusCode != http.StatusCreated || reg.Added != 2 ||
		resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("register %d %+v", resp.StatusCode, reg)
	}
	inj, err := ParseInjection(reg.Injection)
	if err != nil || len(inj) != 2 {
		t.Fatalf("injection in the response: %v", err)
	}
	var v VendResponse
	a.do("POST", "/v1/vend", `{"meter":"`+other.Meters[0].DRN+`","amount":"50"}`, nil, &v)
	decodeUnder(t, inj[other.Meters[0].DRN], v.Token)
	resp = a.do("POST", "/v1/fleet", string(body), nil, &reg)
	if resp.StatusCode != http.StatusOK || reg.Unchanged != 2 {
		t.Errorf("register again %d %+v", resp.StatusCode, reg)
	}
	var def Definition
	a.do("GET", "/v1/fleet", "", nil, &def)
	if len(def.Meters) != 8 {
		t.Errorf("GET /v1/fleet has %d meters, want 8", len(def.Meters))
	}
}

func TestHTTPBodyLimit(t *testing.T) {
	e := newEnv(t, 2, nil)
	a := newAPI(t, e)
	big := `{"meter":"` + strings.Repeat(" ", maxRequestBody) + `"}`
	var got apiError
	resp := a.do("POST", "/v1/vend", big, nil, &got)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d %+v", resp.StatusCode, got)
	}
}

func TestHTTPBearerSchemeAnyCase(t *testing.T) {
	e := newEnv(t, 1, nil)
	a := newAPI(t, e)
	for auth, want := range map[string]int{
		"bearer " + testToken: http.StatusOK,
		"BEARER " + testToken: http.StatusOK,
		"Basic " + testToken:  http.StatusUnauthorized,
		"Bearer" + testToken:  http.StatusUnauthorized,
	} {
		resp := a.do("GET", "/v1/summary", ``, map[string]string{"Authorization": auth}, nil)
		if resp.StatusCode != want {
			t.Errorf("Authorization %q: %d, want %d", auth, resp.StatusCode, want)
		}
	}
}

func TestHTTPWrongBodyTypeInJSONTerms(t *testing.T) {
	e := newEnv(t, 1, nil)
	a := newAPI(t, e)
	for path, body := range map[string]string{"/v1/vend": `[]`, "/v1/vend/batch": `["x"]`} {
		var got apiError
		resp := a.do("POST", path, body, nil, &got)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(got.Error, "JSON object") ||
			strings.Contains(got.Error, "Go value") {
			t.Errorf("POST %s %s: %d %q, want 400 asking for a JSON object", path, body,
				resp.StatusCode, got.Error)
		}
	}
}

func TestHTTPUnknownRoutesNeedTheTokenUnderV1(t *testing.T) {
	e := newEnv(t, 1, nil)
	a := newAPI(t, e)
	noAuth := map[string]string{"Authorization": ""}
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/v1/vend/batch", http.StatusUnauthorized},
		{"GET", "/v1/nothing", http.StatusUnauthorized},
		{"GET", "/v2/vend", http.StatusNotFound},
	} {
		if got := a.do(tc.method, tc.path, ``, noAuth, nil).StatusCode; got != tc.want {
			t.Errorf("%s %s without a token: %d, want %d", tc.method, tc.path, got, tc.want)
		}
	}
	if got := a.do("GET", "/v1/vend/batch", ``, nil, nil).StatusCode; got != 405 {
		t.Errorf("GET /v1/vend/batch with the token: %d, want 405", got)
	}
}
