package scenarios

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/stsfleet/stsfleet/vending"
)

// vendorAPI is a client of the vending service's HTTP API.
type vendorAPI struct {
	base   string
	token  string
	client *http.Client
}

// apiError is the vendor's error body.
type apiError struct {
	Error string       `json:"error"`
	Field string       `json:"field"`
	Rule  vending.Rule `json:"rule"`
}

// maxAPIBody bounds a response read from the vendor.
const maxAPIBody = 64 << 20

func newVendorAPI(base, token string) *vendorAPI {
	return &vendorAPI{base: base, token: token, client: &http.Client{Timeout: 30 * time.Second}}
}

func idempotencyKey() string {
	var b [12]byte
	rand.Read(b[:])
	return "scenario-" + hex.EncodeToString(b[:])
}

// call sends a request with a JSON body (nil for none) and decodes a 2xx
// answer into out. A 422 with a rule is a [*Refusal].
func (v *vendorAPI) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, v.base+path, rd)
	if err != nil {
		return err
	}
	if v.token != "" {
		req.Header.Set("Authorization", "Bearer "+v.token)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", idempotencyKey())
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIBody))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e apiError
		json.Unmarshal(data, &e)
		if e.Rule != "" {
			return &Refusal{Rule: e.Rule, Msg: e.Error}
		}
		return fmt.Errorf("%s %s: vendor answered %d: %s", method, path, resp.StatusCode,
			bytes.TrimSpace(data))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

func (v *vendorAPI) Vend(ctx context.Context, req vending.VendRequest) (*vending.VendResponse,
	error) {
	var out vending.VendResponse
	if err := v.call(ctx, http.MethodPost, "/v1/vend", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (v *vendorAPI) ChangeKey(ctx context.Context, drn string,
	req vending.KeyChangeRequest) (*vending.KeyChangeResponse, error) {
	var out vending.KeyChangeResponse
	path := "/v1/meters/" + url.PathEscape(drn) + "/key-change"
	if err := v.call(ctx, http.MethodPost, path, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (v *vendorAPI) VendorMeter(ctx context.Context, drn string) (*vending.MeterView, error) {
	var out vending.MeterView
	if err := v.call(ctx, http.MethodGet, "/v1/meters/"+url.PathEscape(drn), nil,
		&out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (v *vendorAPI) Summary(ctx context.Context) (*vending.Summary, error) {
	var out vending.Summary
	if err := v.call(ctx, http.MethodGet, "/v1/summary", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// register adds the fleet definition to the vendor and returns the decoder
// keys it derives for the meters.
func (v *vendorAPI) register(ctx context.Context, d *vending.Definition) (vending.Injection,
	error) {
	var out struct {
		Injection json.RawMessage `json:"injection"`
	}
	if err := v.call(ctx, http.MethodPost, "/v1/fleet?include=injection", d, &out); err != nil {
		return nil, fmt.Errorf("register fleet with the vendor: %w", err)
	}
	inj, err := vending.ParseInjection(out.Injection)
	if err != nil {
		return nil, fmt.Errorf("register fleet with the vendor: %w", err)
	}
	return inj, nil
}
