package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/stsfleet/stsfleet/bench/load"
	"github.com/stsfleet/stsfleet/vending"
)

// DefaultBatchWait is how long a batch waits for its first arrival's
// companions before it is sent anyway.
const DefaultBatchWait = 2 * time.Millisecond

// purchase is one purchase of a batch: its meter and idempotency key.
type purchase struct{ drn, key string }

// batchPost sends purchases in one request and returns a vend ID or an
// error per purchase, in order; an error of its own fails them all.
type batchPost func(ctx context.Context, ps []purchase) ([]string, []error, error)

// batcher gathers arrivals into batches of at most size, sending a batch
// once it is full or once its first arrival has waited wait. Each
// arrival's goroutine waits in add until its batch is answered, so that
// whoever waits for the arrivals waits for their batches.
type batcher struct {
	size int
	wait time.Duration
	ctx  context.Context
	send func(ctx context.Context, arrivals []load.Arrival)

	mu  sync.Mutex
	cur *pendingBatch
}

// pendingBatch is a batch being filled, then sent; done is closed once
// it is answered.
type pendingBatch struct {
	arrivals []load.Arrival
	done     chan struct{}
}

// add puts a in the batch being filled and waits for that batch's answer.
func (b *batcher) add(a load.Arrival) {
	b.mu.Lock()
	p := b.cur
	if p == nil {
		p = &pendingBatch{done: make(chan struct{})}
		b.cur = p
		time.AfterFunc(b.wait, func() { b.flush(p) })
	}
	p.arrivals = append(p.arrivals, a)
	full := len(p.arrivals) >= b.size
	if full {
		b.cur = nil
	}
	b.mu.Unlock()
	if full {
		b.run(p)
	}
	<-p.done
}

// flush sends p when its wait is over, unless it has filled and gone.
func (b *batcher) flush(p *pendingBatch) {
	b.mu.Lock()
	if b.cur != p {
		b.mu.Unlock()
		return
	}
	b.cur = nil
	b.mu.Unlock()
	b.run(p)
}

func (b *batcher) run(p *pendingBatch) {
	defer close(p.done)
	b.send(b.ctx, p.arrivals)
}

// vendBatch makes the purchases of a batch and registers their tokens.
// The batch must be answered within the timeout of its earliest arrival.
func (r *vendRun) vendBatch(ctx context.Context, track *tracker, arrivals []load.Arrival) {
	rec := track.rec
	ps := make([]purchase, len(arrivals))
	for i, a := range arrivals {
		ps[i] = purchase{drn: r.meterOf(a), key: r.keyOf(a)}
	}
	rctx, cancel := context.WithDeadline(ctx, arrivals[0].Intended.Add(r.cfg.Timeout))
	defer cancel()
	ids, errs, err := r.postBatch(rctx, ps)
	now := time.Now()
	for i, a := range arrivals {
		switch {
		case err != nil:
			rec.Settle(load.Failed, vendErrorKind(err))
		case errs[i] != nil:
			rec.Settle(load.Failed, vendErrorKind(errs[i]))
		default:
			rec.Issued()
			track.expect(ids[i], a.Intended, now)
		}
	}
}

// httpBatchVendor returns a batch function posting to a vendor's
// POST /v1/vend/batch.
func httpBatchVendor(base, token, amount string, conns int) batchPost {
	client := vendorClient(conns)
	url := base + "/v1/vend/batch"
	type item struct {
		Meter          string `json:"meter"`
		Amount         string `json:"amount"`
		IdempotencyKey string `json:"idempotency_key"`
	}
	return func(ctx context.Context, ps []purchase) ([]string, []error, error) {
		var body struct {
			Vends []item `json:"vends"`
		}
		for _, p := range ps {
			body.Vends = append(body.Vends, item{Meter: p.drn, Amount: amount,
				IdempotencyKey: p.key})
		}
		b, _ := json.Marshal(body)
		data, err := postVendor(ctx, client, url, token, "", b, http.StatusOK, 4<<20)
		if err != nil {
			return nil, nil, err
		}
		var answer struct {
			Results []struct {
				Status int `json:"status"`
				Vend   struct {
					VendID string `json:"vend_id"`
				} `json:"vend"`
			} `json:"results"`
		}
		if err := json.Unmarshal(data, &answer); err != nil || len(answer.Results) != len(ps) {
			return nil, nil, fmt.Errorf("%w: %d purchases, answer %.200q", errDecode, len(ps), data)
		}
		ids, errs := make([]string, len(ps)), make([]error, len(ps))
		for i, res := range answer.Results {
			switch {
			case res.Status != http.StatusCreated:
				errs[i] = &httpError{status: res.Status}
			case res.Vend.VendID == "":
				errs[i] = fmt.Errorf("%w: result %d has no vend_id", errDecode, i)
			default:
				ids[i] = res.Vend.VendID
			}
		}
		return ids, errs, nil
	}
}

// directBatchVendor returns a batch function calling the service itself.
func directBatchVendor(svc *vending.Service, amount string) batchPost {
	return func(ctx context.Context, ps []purchase) ([]string, []error, error) {
		items := make([]vending.BatchItem, len(ps))
		for i, p := range ps {
			items[i] = vending.BatchItem{VendRequest: vending.VendRequest{Meter: p.drn,
				Amount: vending.Decimal(amount)}, IdempotencyKey: p.key}
		}
		ids, errs := make([]string, len(ps)), make([]error, len(ps))
		for i, res := range svc.VendBatch(ctx, items) {
			if res.Err != nil {
				errs[i] = res.Err
				continue
			}
			ids[i] = res.Vend.VendID
		}
		return ids, errs, nil
	}
}
