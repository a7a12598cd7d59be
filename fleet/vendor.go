package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Vendor sells credit: the vending service as the fleet's customers see it.
// Implementations must be safe for concurrent use.
type Vendor interface {
	// Vend buys credit for one meter and returns the receipt once the
	// vendor has issued the token; the token itself reaches the meter
	// over MQTT.
	Vend(ctx context.Context, req VendRequest) (Receipt, error)
}

// VendRequest is one purchase: money (Amount and Currency) or units.
type VendRequest struct {
	// Meter is the DRN.
	Meter string `json:"meter"`
	// Amount is the money paid, a decimal such as "100.00", in Currency.
	Amount string `json:"amount,omitempty"`
	// Currency is the ISO 4217 code of Amount.
	Currency string `json:"currency,omitempty"`
	// Units is the credit asked for in kWh or m3, instead of an amount.
	Units string `json:"units,omitempty"`
	// IdempotencyKey makes a repeated request return the first one's
	// receipt instead of a second token. Sent as a header.
	IdempotencyKey string `json:"-"`
}

// Receipt is the vendor's answer to a purchase (201 of POST /v1/vend).
type Receipt struct {
	VendID       string `json:"vend_id"`
	Meter        string `json:"meter"`
	Token        string `json:"token"`
	Units        string `json:"units"`
	Unit         string `json:"unit"`
	TID          uint32 `json:"tid"`
	Amount       string `json:"amount"`
	TokenAmount  string `json:"token_amount"`
	OtherCharges string `json:"other_charges"`
}

// VendError is a purchase the vendor refused or could not serve.
type VendError struct {
	// Status is the HTTP status, 0 when the request did not get one.
	Status int
	// Body is the vendor's JSON error, as sent.
	Body string
}

func (e *VendError) Error() string {
	return fmt.Sprintf("vendor answered %d: %s", e.Status, strings.TrimSpace(e.Body))
}

// Temporary reports whether trying again later may succeed: the vendor
// was busy or failed, rather than refusing the request.
func (e *VendError) Temporary() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// HTTPVendor buys through the vending service's HTTP API: POST /v1/vend
// with a bearer token. It is safe for concurrent use.
type HTTPVendor struct {
	base   string
	token  string
	client *http.Client
}

// maxReceipt bounds the body read from the vendor.
const maxReceipt = 64 << 10

// NewHTTPVendor returns a client of the vendor at base, such as
// http://127.0.0.1:8080, authenticating with token. A nil client means one
// with a 30-second timeout.
func NewHTTPVendor(base, token string, client *http.Client) *HTTPVendor {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute}}
	}
	return &HTTPVendor{base: strings.TrimRight(base, "/"), token: token, client: client}
}

// Vend implements [Vendor].
func (v *HTTPVendor) Vend(ctx context.Context, r VendRequest) (Receipt, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return Receipt{}, fmt.Errorf("vend for meter %s: %w", r.Meter, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.base+"/v1/vend",
		bytes.NewReader(body))
	if err != nil {
		return Receipt{}, fmt.Errorf("vend for meter %s: %w", r.Meter, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if v.token != "" {
		req.Header.Set("Authorization", "Bearer "+v.token)
	}
	if r.IdempotencyKey != "" {
		req.Header.Set("Idempotency-Key", r.IdempotencyKey)
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return Receipt{}, fmt.Errorf("vend for meter %s: %w", r.Meter, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxReceipt))
	if err != nil {
		return Receipt{}, fmt.Errorf("vend for meter %s: read answer: %w", r.Meter, err)
	}
	// 201 for a new vend, 200 for the replay of an idempotent one.
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return Receipt{}, fmt.Errorf("vend for meter %s: %w", r.Meter,
			&VendError{Status: resp.StatusCode, Body: string(data)})
	}
	rc, err := decodeReceipt(data)
	if err != nil {
		return Receipt{}, fmt.Errorf("vend for meter %s: %w", r.Meter, err)
	}
	return rc, nil
}

// decodeReceipt reads the vendor's answer to a vend. Fields the fleet does
// not use are ignored, so the vendor may add to its answer.
func decodeReceipt(data []byte) (Receipt, error) {
	var rc Receipt
	if err := json.Unmarshal(data, &rc); err != nil {
		return Receipt{}, fmt.Errorf("decode receipt: %w", err)
	}
	if rc.VendID == "" {
		return Receipt{}, errors.New("decode receipt: no vend_id")
	}
	return rc, nil
}

// temporary reports whether a purchase that failed with err may succeed
// when tried again: network trouble or a busy vendor, not a refusal.
func temporary(err error) bool {
	var ve *VendError
	if errors.As(err, &ve) {
		return ve.Temporary()
	}
	return !errors.Is(err, context.Canceled)
}
