package vending

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// MaxBatchVends is the most purchases one batch may carry.
const MaxBatchVends = 1000

// maxBatchBody bounds the body of a batch: a thousand purchases take
// about 150 KB.
const maxBatchBody = 1 << 20

// BatchItem is one purchase of a batch: a [VendRequest] with the
// idempotency key that a single vend sends as its header.
type BatchItem struct {
	VendRequest
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// BatchResult is the outcome of one purchase of a batch.
type BatchResult struct {
	// Vend is the token and receipt, or nil when Err is set.
	Vend *VendResponse
	Err  error
}

// VendBatch runs purchases as [Service.Vend] would run them one by one,
// and returns their outcomes in the order given. Purchases for different
// meters run concurrently, so that they share ledger commits; those for
// the same meter run in the order given. Once ctx is done, purchases not
// yet started fail with its error.
func (s *Service) VendBatch(ctx context.Context, items []BatchItem) []BatchResult {
	out := make([]BatchResult, len(items))
	for i, r := range s.vendBatch(ctx, items) {
		if r.err != nil {
			out[i].Err = r.err
			continue
		}
		out[i].Vend, out[i].Err = storedVend(r.body, r.replayed)
	}
	return out
}

// batchOutcome is a purchase's answer as the ledger keeps it.
type batchOutcome struct {
	body     []byte
	replayed bool
	err      error
}

func (s *Service) vendBatch(ctx context.Context, items []BatchItem) []batchOutcome {
	out := make([]batchOutcome, len(items))
	var wg sync.WaitGroup
	for _, group := range sequences(items) {
		wg.Go(func() {
			for _, i := range group {
				o := &out[i]
				// A batch whose client has gone starts no more
				// purchases; sent again under the same keys, the
				// ones made replay.
				if o.err = ctx.Err(); o.err != nil {
					continue
				}
				o.body, o.replayed, o.err = s.vend(ctx, items[i].VendRequest,
					items[i].IdempotencyKey)
			}
		})
	}
	wg.Wait()
	return out
}

// sequences splits a batch into groups of items that must run one after
// the other, in the order given: those for one meter, and those sharing
// an idempotency key (so that the first under a key is the one made,
// whichever meters they name). Each group lists item indices in order.
func sequences(items []BatchItem) [][]int {
	// group[i] is the group of item i; groups merge when an item links
	// two of them.
	group := make([]int, len(items))
	byMeter, byKey := map[string]int{}, map[string]int{}
	parent := make([]int, 0, len(items))
	find := func(g int) int {
		for parent[g] != g {
			parent[g] = parent[parent[g]]
			g = parent[g]
		}
		return g
	}
	for i, it := range items {
		g := len(parent)
		parent = append(parent, g)
		if m, ok := byMeter[it.Meter]; ok {
			g = find(m)
		}
		if k, ok := byKey[it.IdempotencyKey]; ok && it.IdempotencyKey != "" {
			k = find(k)
			if k != g {
				parent[k] = g
			}
		}
		byMeter[it.Meter] = g
		if it.IdempotencyKey != "" {
			byKey[it.IdempotencyKey] = g
		}
		group[i] = g
	}
	index := map[int]int{}
	var out [][]int
	for i := range items {
		g := find(group[i])
		n, ok := index[g]
		if !ok {
			n = len(out)
			index[g] = n
			out = append(out, nil)
		}
		out[n] = append(out[n], i)
	}
	return out
}

// DecodeBatchRequest reads the body of POST /v1/vend/batch:
// {"vends": [item, ...]}, each item a vend request with an optional
// "idempotency_key". Errors name the item, as in vends[2].amount.
func DecodeBatchRequest(body []byte) ([]BatchItem, error) {
	var raw struct {
		Vends []json.RawMessage `json:"vends"`
	}
	if err := decodeStrict(body, &raw); err != nil {
		return nil, err
	}
	switch n := len(raw.Vends); {
	case n == 0:
		return nil, fieldErr("vends", "required: at least one purchase")
	case n > MaxBatchVends:
		return nil, fieldErr("vends", "%d purchases: at most %d", n, MaxBatchVends)
	}
	items := make([]BatchItem, len(raw.Vends))
	for i, b := range raw.Vends {
		// decodeStrict has scanned the whole body for duplicate keys.
		if err := decodeChecked(b, &items[i]); err != nil {
			// encoding/json names a promoted field through the
			// embedded struct: VendRequest.amount is amount.
			var fe *FieldError
			if errors.As(err, &fe) {
				fe.Field = strings.TrimPrefix(fe.Field, "VendRequest.")
			}
			return nil, inField("vends["+strconv.Itoa(i)+"]", err)
		}
	}
	return items, nil
}

func (s *Service) handleBatch(w http.ResponseWriter, r *http.Request) error {
	if r.Header.Get("Idempotency-Key") != "" {
		// A retried batch would vend again: each purchase carries its
		// own key.
		return fieldErr("Idempotency-Key", "a batch takes no Idempotency-Key header: give "+
			"each purchase its own idempotency_key")
	}
	body, err := readBody(w, r, maxBatchBody)
	if err != nil {
		return err
	}
	items, err := DecodeBatchRequest(body)
	if err != nil {
		s.countFailure("", err)
		return asFieldError(err)
	}
	results := s.vendBatch(r.Context(), items)
	var b bytes.Buffer
	b.Grow(len(results) * 400)
	b.WriteString(`{"results":[`)
	for i, res := range results {
		if i > 0 {
			b.WriteByte(',')
		}
		if res.err != nil {
			status, e := errorStatus(res.err)
			if e.Field == "Idempotency-Key" {
				// In a batch the key is the item's field.
				e.Field = "idempotency_key"
			}
			if status == http.StatusInternalServerError {
				s.log.Error("batch purchase failed", "item", i, "err", res.err)
			}
			eb, _ := json.Marshal(e)
			fmt.Fprintf(&b, `{"status":%d,"error":%s}`, status, eb)
			continue
		}
		fmt.Fprintf(&b, `{"status":%d,"replayed":%t,"vend":`, http.StatusCreated, res.replayed)
		b.Write(res.body)
		b.WriteByte('}')
	}
	b.WriteString(`]}`)
	writeRaw(w, http.StatusOK, b.Bytes())
	return nil
}
