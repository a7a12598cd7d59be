package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/stsfleet/stsfleet/bench/load"
	"github.com/stsfleet/stsfleet/mqttc"
	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/protocol/wire"
	"github.com/stsfleet/stsfleet/scenarios/threshold"
	"github.com/stsfleet/stsfleet/vending"
	"github.com/stsfleet/stsfleet/vending/ledger"
)

// VendNames is the vocabulary of the vend bench, that of the end-of-run
// summary: a request is one purchase, accepted when the meter's accept is
// back.
var VendNames = load.Names{
	Kind: "vend", Unit: "tokens", Issued: threshold.TokensVended,
	States: [5]string{"tokens_accepted", "tokens_rejected", "tokens_failed",
		"tokens_timed_out", "tokens_lost"},
	Latencies: []string{threshold.VendToCredit, threshold.VendToIssue,
		threshold.IssueToCredit},
	Outcomes: outcomeNames(),
}

// outcomeNames returns the name of every outcome a meter may answer.
func outcomeNames() []string {
	var names []string
	for _, o := range sts.Outcomes() {
		names = append(names, o.String())
	}
	return names
}

// APIs through which the embedded vendor is asked for tokens.
const (
	// APIHTTP posts to the vendor's HTTP API over loopback, as a
	// point-of-sale would.
	APIHTTP = "http"
	// APIDirect calls the service in-process, leaving HTTP out of the
	// path (to see what it costs).
	APIDirect = "direct"
)

// DefaultAmount is what each purchase pays, in the tariff's currency.
const DefaultAmount = "100.00"

// DefaultHTTPConns is the default cap on connections to the vendor: like a
// point-of-sale front end, the bench keeps a pool rather than dialling a
// connection per request in flight, which under load costs more than the
// requests themselves.
const DefaultHTTPConns = 64

// VendConfig configures [RunVend]: purchase request, token, MQTT delivery,
// meter decrypt and credit, result back. Latencies are measured on one
// clock, the bench's, from each request's intended send time:
// vend_to_issue to the token being issued (the embedded vendor's ledger
// commit; an external vendor's answer), vend_to_credit to the vendor
// having the meter's result (embedded; an external one's result as the
// bench reads it from the broker), issue_to_credit between the two.
type VendConfig struct {
	Common
	// Meters is the size of the embedded fleet; zero means 1000.
	// Ignored with VendorURL.
	Meters int
	// Seed makes the embedded fleet reproducible.
	Seed uint64
	// API is APIHTTP (the zero value) or APIDirect, for the embedded
	// vendor.
	API string
	// Amount is paid for each token; empty means DefaultAmount.
	Amount string
	// Ledger tunes the embedded vendor's ledger: group commit window and
	// durability. The zero value is the vendor's default.
	Ledger ledger.Options
	// SplitLink gives the embedded vendor two MQTT connections, one
	// publishing tokens and one reading results. False (the zero value)
	// uses one for both, as the all-in-one does.
	SplitLink bool
	// HTTPConns caps the HTTP connections to the vendor; requests beyond
	// wait for one (their latency still counts from the intended time).
	// Zero means DefaultHTTPConns.
	HTTPConns int
	// Batch, above 1, sends purchases in batches of at most that many
	// (POST /v1/vend/batch, or the service's VendBatch with APIDirect);
	// a batch goes once full or once its first purchase has waited
	// BatchWait (zero means DefaultBatchWait). Zero or 1 sends each
	// purchase alone (POST /v1/vend).
	Batch     int
	BatchWait time.Duration

	// VendorURL, when set, is an external vendor's HTTP API, and
	// VendorToken its bearer token. The bench then reads results from
	// BrokerURL with an account allowed to (the vendor's or analytics'),
	// and vends to the meters of Definition.
	VendorURL, VendorToken string
	// BrokerURL, BrokerUser and BrokerPassword are that broker and
	// account.
	BrokerURL, BrokerUser, BrokerPassword string
	// Definition lists the external fleet's meters.
	Definition *vending.Definition
}

// vendRun is the state of one vend bench.
type vendRun struct {
	cfg    VendConfig
	meters []string
	post   func(ctx context.Context, drn, key string) (string, error)
	// postBatch replaces post when purchases go in batches.
	postBatch batchPost
	runID     string
	// links are the MQTT clients that must be connected before a step.
	links []*mqttc.Client

	// mu guards track, the tracker of the step running; results outlive
	// steps.
	mu    sync.Mutex
	track *tracker
}

// RunVend runs the vend bench and returns its report.
func RunVend(ctx context.Context, cfg VendConfig) (*Report, error) {
	cfg.Meters = orDefault(cfg.Meters, 1000)
	cfg.API = orDefault(cfg.API, APIHTTP)
	cfg.Amount = orDefault(cfg.Amount, DefaultAmount)
	cfg.HTTPConns = orDefault(cfg.HTTPConns, DefaultHTTPConns)
	cfg.BatchWait = orDefault(cfg.BatchWait, DefaultBatchWait)
	switch {
	case cfg.Batch < 0 || cfg.Batch > vending.MaxBatchVends:
		return nil, fmt.Errorf("bench vend: batch %d: want 1 to %d", cfg.Batch,
			vending.MaxBatchVends)
	case cfg.BatchWait < 0:
		return nil, fmt.Errorf("bench vend: batch wait %v: want a positive duration",
			cfg.BatchWait)
	}
	if err := cfg.Common.resolve(); err != nil {
		return nil, fmt.Errorf("bench vend: %w", err)
	}
	r := &vendRun{cfg: cfg, runID: fmt.Sprintf("%x", randomBytes(6))}
	var rep *Report
	var err error
	if cfg.VendorURL != "" {
		rep, err = r.external(ctx)
	} else {
		rep, err = r.embedded(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("bench vend: %w", err)
	}
	return rep, nil
}

func (r *vendRun) embedded(ctx context.Context) (*Report, error) {
	if r.cfg.API != APIHTTP && r.cfg.API != APIDirect {
		return nil, fmt.Errorf("api %q: want %s or %s", r.cfg.API, APIHTTP, APIDirect)
	}
	var env *embedded
	setup := func(ctx context.Context) (Info, error) {
		started := time.Now()
		var err error
		env, err = startEmbedded(ctx, embeddedConfig{meters: r.cfg.Meters, seed: r.cfg.Seed,
			transport: r.cfg.Transport, sink: sinkFunc(r.vendorEvent), reg: r.cfg.Registerer,
			log: r.cfg.Logger, split: r.cfg.SplitLink, ledger: r.cfg.Ledger})
		if err != nil {
			return nil, err
		}
		r.meters = env.meters
		for _, c := range []*mqttc.Client{env.link, env.reader} {
			if c != nil {
				r.links = append(r.links, c)
			}
		}
		switch {
		case r.cfg.API == APIDirect && r.batched():
			r.postBatch = directBatchVendor(env.vendor, r.cfg.Amount)
		case r.cfg.API == APIDirect:
			r.post = directVendor(env.vendor, r.cfg.Amount)
		case r.batched():
			r.postBatch = httpBatchVendor(env.url, env.token, r.cfg.Amount, r.cfg.HTTPConns)
		default:
			r.post = httpVendor(env.url, env.token, r.cfg.Amount, r.cfg.HTTPConns)
		}
		return Info{"mode": "embedded", "meters": len(r.meters), "transport": r.cfg.Transport,
			"api": r.cfg.API, "amount": r.cfg.Amount, "http_conns": r.cfg.HTTPConns,
			"batch": max(r.cfg.Batch, 1), "batch_wait_s": r.cfg.BatchWait.Seconds(),
			"split_link":      r.cfg.SplitLink,
			"ledger_window_s": ledgerWindow(r.cfg.Ledger.Window).Seconds(),
			"ledger_nosync":   r.cfg.Ledger.NoSync,
			"start_s":         time.Since(started).Seconds()}, nil
	}
	defer func() {
		if env != nil {
			env.close()
		}
	}()
	rep, err := runSteps(ctx, &r.cfg.Common, VendNames, r.step, setup)
	if err != nil {
		return nil, err
	}
	rep.Extra = Info{"vendor_summary": env.vendor.Summary(), "broker": env.broker.b.Stats()}
	return rep, nil
}

// ledgerWindow is the window the embedded vendor's ledger runs with when
// asked for w: zero is the vendor's default, a negative window no wait.
func ledgerWindow(w time.Duration) time.Duration {
	switch {
	case w == 0:
		return vending.DefaultLedgerWindow
	case w < 0:
		return 0
	}
	return w
}

func (r *vendRun) external(ctx context.Context) (*Report, error) {
	if r.cfg.BrokerURL == "" || r.cfg.Definition == nil || len(r.cfg.Definition.Meters) == 0 {
		return nil, errors.New("an external vendor needs --broker and --fleet (its meters)")
	}
	for _, m := range r.cfg.Definition.Meters {
		r.meters = append(r.meters, m.DRN)
	}
	if r.batched() {
		r.postBatch = httpBatchVendor(r.cfg.VendorURL, r.cfg.VendorToken, r.cfg.Amount,
			r.cfg.HTTPConns)
	} else {
		r.post = httpVendor(r.cfg.VendorURL, r.cfg.VendorToken, r.cfg.Amount, r.cfg.HTTPConns)
	}
	var results *mqttc.Client
	setup := func(ctx context.Context) (Info, error) {
		var err error
		results, err = mqttc.Connect(ctx, mqttc.Options{
			Broker: r.cfg.BrokerURL, ClientID: "bench-results-" + r.runID,
			Username: r.cfg.BrokerUser, Password: r.cfg.BrokerPassword, CleanSession: true,
			Subscriptions: []mqttc.Subscription{{Filter: wire.TopicFilter(wire.KindResult),
				QoS: 1, Handler: r.resultMessage}},
			Logger: r.cfg.Logger,
		})
		if err != nil {
			return nil, fmt.Errorf("subscribe to results: %w", err)
		}
		return Info{"mode": "external", "meters": len(r.meters), "vendor": r.cfg.VendorURL,
			"broker": r.cfg.BrokerURL, "amount": r.cfg.Amount, "batch": max(r.cfg.Batch, 1),
			"batch_wait_s": r.cfg.BatchWait.Seconds()}, nil
	}
	defer func() {
		if results != nil {
			results.Disconnect(0)
		}
	}()
	return runSteps(ctx, &r.cfg.Common, VendNames, r.step, setup)
}

func (r *vendRun) current() *tracker {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.track
}

// vendorEvent takes the embedded vendor's events: a token's first
// result, or the vendor giving up on it.
func (r *vendRun) vendorEvent(ev vending.Event) {
	t := r.current()
	if t == nil {
		return
	}
	switch ev.Kind {
	case vending.EventVend:
		t.noteIssued(ev.VendID, ev.At)
	case vending.EventResult:
		o, err := sts.ParseOutcome(ev.Outcome)
		t.answer(ev.VendID, ev.At, err == nil && o.Accepted(), ev.Outcome)
	case vending.EventLost:
		t.lose(ev.VendID)
	}
}

// resultMessage takes a meter's result read from an external broker.
func (r *vendRun) resultMessage(m mqttc.Message) {
	now := time.Now()
	t := r.current()
	if t == nil {
		return
	}
	res, err := wire.DecodeResult(m.Payload)
	if err != nil || res.VendID == "" {
		return
	}
	o, _ := sts.ParseOutcome(res.Outcome)
	t.answer(res.VendID, now, o.Accepted(), res.Outcome)
}

// step runs one schedule of purchases.
func (r *vendRun) step(ctx context.Context, rec *load.Recorder) error {
	track := newTracker(rec, r.cfg.Timeout, threshold.VendToCredit, threshold.IssueToCredit)
	track.issueLatency = threshold.VendToIssue
	if err := waitConnected(ctx, r.links); err != nil {
		return err
	}
	r.mu.Lock()
	r.track = track
	r.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var g errgroup.Group
	g.Go(func() error { track.run(ctx); return nil })
	send := func(ctx context.Context, a load.Arrival) { r.vend(ctx, track, a) }
	if r.batched() {
		b := &batcher{size: r.cfg.Batch, wait: r.cfg.BatchWait, ctx: ctx,
			send: func(ctx context.Context, as []load.Arrival) { r.vendBatch(ctx, track, as) }}
		send = func(_ context.Context, a load.Arrival) { b.add(a) }
	}
	track.drive(ctx, cancel, r.cfg.Common, send)
	return g.Wait()
}

func (r *vendRun) batched() bool { return r.cfg.Batch > 1 }

// meterOf is the meter an arrival buys for: the fleet in turn.
func (r *vendRun) meterOf(a load.Arrival) string { return r.meters[a.Seq%int64(len(r.meters))] }

// keyOf is an arrival's idempotency key, unique to the run.
func (r *vendRun) keyOf(a load.Arrival) string {
	return "bench-" + r.runID + "-" + strconv.FormatInt(a.Seq, 10) + "-" +
		strconv.FormatInt(a.Intended.UnixNano(), 36)
}

// vend makes one purchase and registers its token for the result.
func (r *vendRun) vend(ctx context.Context, track *tracker, a load.Arrival) {
	rec := track.rec
	rctx, cancel := context.WithDeadline(ctx, a.Intended.Add(r.cfg.Timeout))
	defer cancel()
	id, err := r.post(rctx, r.meterOf(a), r.keyOf(a))
	now := time.Now()
	if err != nil {
		rec.Settle(load.Failed, vendErrorKind(err))
		return
	}
	rec.Issued()
	track.expect(id, a.Intended, now)
}

// httpError is a vendor's answer other than 201 Created.
type httpError struct{ status int }

func (e *httpError) Error() string { return "vendor answered " + strconv.Itoa(e.status) }

func vendErrorKind(err error) string {
	var he *httpError
	var fe *vending.FieldError
	switch {
	case errors.As(err, &he):
		return "http_" + strconv.Itoa(he.status)
	case errors.As(err, &fe):
		return "http_400"
	case errors.Is(err, errDecode):
		return FailDecode
	}
	return errorKind(err)
}

var errDecode = errors.New("decode vendor answer")

// httpVendor returns a purchase function posting to a vendor's API.
func httpVendor(base, token, amount string, conns int) func(ctx context.Context, drn,
	key string) (string, error) {
	client := vendorClient(conns)
	url := base + "/v1/vend"
	return func(ctx context.Context, drn, key string) (string, error) {
		body, _ := json.Marshal(vending.VendRequest{Meter: drn, Amount: vending.Decimal(amount)})
		data, err := postVendor(ctx, client, url, token, key, body, http.StatusCreated, 1<<16)
		if err != nil {
			return "", err
		}
		var vr struct {
			VendID string `json:"vend_id"`
		}
		if err := json.Unmarshal(data, &vr); err != nil || vr.VendID == "" {
			return "", fmt.Errorf("%w: %q", errDecode, data)
		}
		return vr.VendID, nil
	}
}

// postVendor posts a JSON body to a vendor's API, with an idempotency key
// when key is set, and returns the answer's body, at most limit bytes; an
// answer other than want is an [httpError].
func postVendor(ctx context.Context, client *http.Client, url, token, key string, body []byte,
	want int, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		return nil, &httpError{status: resp.StatusCode}
	}
	return data, nil
}

// vendorClient is an HTTP client keeping at most conns connections.
func vendorClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
		IdleConnTimeout: time.Minute,
	}}
}

// directVendor returns a purchase function calling the service itself.
func directVendor(svc *vending.Service, amount string) func(ctx context.Context, drn,
	key string) (string, error) {
	return func(ctx context.Context, drn, key string) (string, error) {
		resp, err := svc.Vend(ctx, vending.VendRequest{Meter: drn,
			Amount: vending.Decimal(amount)}, key)
		if err != nil {
			return "", err
		}
		return resp.VendID, nil
	}
}

// sinkFunc adapts a function to vending.EventSink.
type sinkFunc func(vending.Event)

// Emit implements vending.EventSink.
func (f sinkFunc) Emit(ev vending.Event) { f(ev) }
