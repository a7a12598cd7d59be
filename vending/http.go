package vending

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/stsfleet/stsfleet/protocol/sts"
)

// Body limits of the HTTP API.
const (
	maxRequestBody = 64 << 10
	maxFleetBody   = 256 << 20
)

// Handler returns the HTTP API:
//
//	POST /v1/vend                         credit vend (Idempotency-Key)
//	POST /v1/vend/batch                   up to MaxBatchVends credit vends
//	GET  /v1/vends/{id}                   delivery state of a vend
//	POST /v1/meters/{drn}/resend          publish the latest vend again
//	POST /v1/meters/{drn}/management      class 2 management token
//	POST /v1/meters/{drn}/key-change      key change token set
//	GET  /v1/meters/{drn}                 the vendor's view of a meter
//	POST /v1/fleet                        register a fleet definition
//	GET  /v1/fleet                        the fleet definition as it is now
//	GET  /v1/summary                      token totals and latencies
//	GET  /healthz                         liveness, no authentication
//
// Every /v1 route needs "Authorization: Bearer <token>" when the service
// has an API token. Errors are JSON: {"error": "...", "field": "...",
// "rule": "..."}, 400 for bad input (naming the field), 401, 404, 405 for
// a method the route does not take, 409 for conflicts, 413, 422 for
// refusals by a rule (naming it), 500 otherwise.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.handleHealth)
	route := func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
		mux.Handle(pattern, s.authenticate(func(w http.ResponseWriter, r *http.Request) {
			if err := h(w, r); err != nil {
				s.writeError(w, err)
			}
		}))
	}
	route("POST /v1/vend", s.handleVend)
	route("POST /v1/vend/batch", s.handleBatch)
	route("GET /v1/vends/{id}", s.handleVendStatus)
	route("POST /v1/meters/{drn}/resend", s.handleResend)
	route("POST /v1/meters/{drn}/management", s.handleManagement)
	route("POST /v1/meters/{drn}/key-change", s.handleKeyChange)
	route("GET /v1/meters/{drn}", s.handleMeter)
	route("POST /v1/fleet", s.handleRegisterFleet)
	route("GET /v1/fleet", s.handleFleet)
	route("GET /v1/summary", s.handleSummary)
	fallback := func(w http.ResponseWriter, r *http.Request) {
		if allow := allowed(mux, r); allow != "" {
			w.Header().Set("Allow", allow)
			writeJSON(w, http.StatusMethodNotAllowed, apiError{Error: r.Method + " " +
				r.URL.Path + ": method not allowed (allowed: " + allow + ")"})
			return
		}
		writeJSON(w, http.StatusNotFound, apiError{Error: "no such endpoint: " + r.Method +
			" " + r.URL.Path})
	}
	// Under /v1 even a wrong route or method needs the token first: the
	// API's shape is for its clients.
	mux.Handle(catchAllV1, s.authenticate(fallback))
	mux.HandleFunc(catchAll, fallback)
	return mux
}

// The patterns of the routes that answer 404 and 405.
const (
	catchAll   = "/"
	catchAllV1 = "/v1/"
)

// allowed lists the methods that mux routes for r's path other than to
// a catch-all, as an Allow header has them; empty when there are none.
func allowed(mux *http.ServeMux, r *http.Request) string {
	var methods []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		probe := r.Clone(r.Context())
		probe.Method = m
		_, pattern := mux.Handler(probe)
		if pattern != catchAll && pattern != catchAllV1 && pattern != "" {
			methods = append(methods, m)
		}
	}
	return strings.Join(methods, ", ")
}

// authenticate checks the bearer token in constant time.
func (s *Service) authenticate(next http.HandlerFunc) http.Handler {
	want := []byte(s.cfg.APIToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(want) > 0 {
			// The scheme is case-insensitive (RFC 9110, 11.1).
			scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
			ok = ok && strings.EqualFold(scheme, "Bearer")
			if !ok || subtle.ConstantTimeCompare([]byte(got), want) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="vendor"`)
				writeJSON(w, http.StatusUnauthorized, apiError{Error: "missing or wrong bearer " +
					"token", Field: "Authorization"})
				return
			}
		}
		next(w, r)
	})
}

// apiError is the body of every error response.
type apiError struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
	Rule  Rule   `json:"rule,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	writeRaw(w, status, b)
}

// writeRaw writes a JSON body that is already encoded.
func writeRaw(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	w.Write(b)
	w.Write(newline)
}

var (
	jsonContentType = []string{"application/json"}
	newline         = []byte{'\n'}
)

// errorStatus maps an error to its status and body.
func errorStatus(err error) (int, apiError) {
	e := apiError{Error: err.Error()}
	var fe *FieldError
	if errors.As(err, &fe) {
		e.Field = fe.Field
	}
	var re *RuleError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &re):
		e.Rule = re.Rule
		if re.Rule == RuleKeyChangePending {
			return http.StatusConflict, e
		}
		return http.StatusUnprocessableEntity, e
	case errors.Is(err, ErrUnknownMeter), errors.Is(err, ErrUnknownVend),
		errors.Is(err, ErrNothingToResend):
		return http.StatusNotFound, e
	case errors.Is(err, ErrIdempotencyConflict):
		e.Field = "Idempotency-Key"
		return http.StatusConflict, e
	case errors.Is(err, ErrFleetConflict), errors.Is(err, ErrNoDelivery):
		return http.StatusConflict, e
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, apiError{Error: "request body too large"}
	case errors.Is(err, ErrPublish):
		return http.StatusBadGateway, e
	case fe != nil:
		return http.StatusBadRequest, e
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, apiError{Error: "request cancelled"}
	}
	return http.StatusInternalServerError, apiError{Error: "internal error"}
}

func (s *Service) writeError(w http.ResponseWriter, err error) {
	status, e := errorStatus(err)
	if status == http.StatusInternalServerError {
		s.log.Error("request failed", "err", err)
	}
	writeJSON(w, status, e)
}

// readBody reads a request body of at most limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, &FieldError{Field: "body", Err: err}
	}
	return b, nil
}

func (s *Service) handleHealth(w http.ResponseWriter, r *http.Request) {
	if err := s.led.Ping(r.Context()); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "ledger down"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// replayHeader marks a response repeated for an Idempotency-Key.
const replayHeader = "Idempotent-Replayed"

func (s *Service) handleVend(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r, maxRequestBody)
	if err != nil {
		return err
	}
	req, err := DecodeVendRequest(body)
	if err != nil {
		s.countFailure("", err)
		return asFieldError(err)
	}
	resp, replayed, err := s.vend(r.Context(), req, r.Header.Get("Idempotency-Key"))
	if err != nil {
		return err
	}
	if replayed {
		w.Header().Set(replayHeader, "true")
	}
	writeRaw(w, http.StatusCreated, resp)
	return nil
}

func respond(w http.ResponseWriter, status int, v any, replayed bool) {
	if replayed {
		w.Header().Set(replayHeader, "true")
	}
	writeJSON(w, status, v)
}

// asFieldError makes a decoding error without a field a body error, so
// that it is answered with 400.
func asFieldError(err error) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		return err
	}
	return &FieldError{Field: "body", Err: err}
}

func (s *Service) handleVendStatus(w http.ResponseWriter, r *http.Request) error {
	st, err := s.VendStatus(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// pathDRN checks the {drn} of the path.
func pathDRN(r *http.Request) (string, error) {
	drn := r.PathValue("drn")
	if err := sts.ValidateDRN(drn); err != nil {
		return "", &FieldError{Field: "drn", Err: err}
	}
	return drn, nil
}

func (s *Service) handleResend(w http.ResponseWriter, r *http.Request) error {
	drn, err := pathDRN(r)
	if err != nil {
		return err
	}
	resp, err := s.Resend(r.Context(), drn)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Service) handleManagement(w http.ResponseWriter, r *http.Request) error {
	drn, err := pathDRN(r)
	if err != nil {
		return err
	}
	body, err := readBody(w, r, maxRequestBody)
	if err != nil {
		return err
	}
	req, err := DecodeManagementRequest(body)
	if err != nil {
		s.countFailure(drn, err)
		return asFieldError(err)
	}
	resp, err := s.Manage(r.Context(), drn, req, r.Header.Get("Idempotency-Key"))
	if err != nil {
		return err
	}
	respond(w, http.StatusCreated, resp, resp.Replayed)
	return nil
}

func (s *Service) handleKeyChange(w http.ResponseWriter, r *http.Request) error {
	drn, err := pathDRN(r)
	if err != nil {
		return err
	}
	body, err := readBody(w, r, maxRequestBody)
	if err != nil {
		return err
	}
	req, err := DecodeKeyChangeRequest(body)
	if err != nil {
		s.countFailure(drn, err)
		return asFieldError(err)
	}
	resp, err := s.ChangeKey(r.Context(), drn, req, r.Header.Get("Idempotency-Key"))
	if err != nil {
		return err
	}
	respond(w, http.StatusCreated, resp, resp.Replayed)
	return nil
}

func (s *Service) handleMeter(w http.ResponseWriter, r *http.Request) error {
	drn, err := pathDRN(r)
	if err != nil {
		return err
	}
	v, err := s.MeterView(drn)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// registerResponse is the body of POST /v1/fleet.
type registerResponse struct {
	*RegisterResult
	// Injection is present with ?include=injection.
	Injection *injectionJSON `json:"injection,omitempty"`
}

func (s *Service) handleRegisterFleet(w http.ResponseWriter, r *http.Request) error {
	withInjection := false
	switch inc := r.URL.Query().Get("include"); inc {
	case "":
	case "injection":
		withInjection = true
	default:
		return fieldErr("include", "%q: the only value is injection", inc)
	}
	body, err := readBody(w, r, maxFleetBody)
	if err != nil {
		return err
	}
	d, err := ParseDefinition(body)
	if err != nil {
		return asFieldError(err)
	}
	res, err := s.RegisterFleet(r.Context(), d, withInjection)
	if err != nil {
		return err
	}
	out := registerResponse{RegisterResult: res}
	if withInjection {
		j := res.Injection.wire()
		out.Injection = &j
		// Decoder keys: not for caches.
		w.Header().Set("Cache-Control", "no-store")
	}
	status := http.StatusOK
	if res.Added > 0 || res.TariffsAdded > 0 {
		status = http.StatusCreated
	}
	writeJSON(w, status, out)
	return nil
}

func (s *Service) handleFleet(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, s.Definition())
	return nil
}

func (s *Service) handleSummary(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, s.Summary())
	return nil
}
