package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)

func openTest(t testing.TB, path string, opts Options) *Ledger {
	t.Helper()
	l, err := Open(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func testVend(id, meter string, tid uint32) *Vend {
	return &Vend{
		ID: id, Meter: meter, Kind: "credit", Units: 49, Unit: "kWh",
		Amount: 10000, TokenAmount: 5988, OtherCharges: 4012, Currency: "KES",
		Tariff: "domestic", ReceivedAt: t0, SimAt: t0.Add(time.Hour),
		Response: []byte(`{"vend_id":"` + id + `"}`),
		Tokens: []Token{{
			Seq: 0, Token: "51043465443420856213", Class: 0, SubClass: 0, TID: tid,
			HasTID: true, Units: 49, State: Issued, Attempts: 1, IssuedAt: t0,
			LastSentAt: t0, NextAttemptAt: t0.Add(5 * time.Second),
		}},
	}
}

func addMeter(t testing.TB, l *Ledger, drn string) {
	t.Helper()
	identity := []byte(`{"drn":"` + drn + `"}`)
	if err := l.Submit(context.Background(), AddMeter(drn, identity, t0)); err != nil {
		t.Fatalf("AddMeter: %v", err)
	}
}

func TestOpenMigratesAndRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	l := openTest(t, path, Options{})
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != SchemaVersion {
		t.Errorf("user_version = %d, want %d", v, SchemaVersion)
	}
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", SchemaVersion+1)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(context.Background(), path, Options{}); !errors.Is(err, ErrSchema) {
		t.Errorf("Open of a newer schema = %v, want ErrSchema", err)
	}
}

func TestVendRoundTripSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	l := openTest(t, path, Options{})
	addMeter(t, l, "47000000019")
	v := testVend("v1", "47000000019", 100)
	ms := MeterState{DRN: v.Meter, LastTID: 100, Month: "2026-12", MonthUnits: 49, LastVend: "v1"}
	if err := l.Submit(context.Background(), InsertVend(v, ms)); err != nil {
		t.Fatalf("InsertVend: %v", err)
	}
	at := t0.Add(2 * time.Second)
	err := l.Submit(context.Background(),
		RecordResult("v1", 0, Accepted, "accept", at),
		// A later copy answered used_error: the first result stays.
		RecordResult("v1", 0, Delivered, "used_error", at.Add(time.Second)))
	if err != nil {
		t.Fatalf("RecordResult: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	l = openTest(t, path, Options{})
	got, err := l.Vend(context.Background(), "v1")
	if err != nil {
		t.Fatalf("Vend after reopen: %v", err)
	}
	want := *v
	want.Tokens = append([]Token(nil), v.Tokens...)
	want.Tokens[0].State, want.Tokens[0].Outcome, want.Tokens[0].ResultAt = Accepted, "accept", at
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("vend after reopen (-want +got):\n%s", diff)
	}
	meters, err := l.Meters(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	wantM := []MeterRow{{DRN: "47000000019", Identity: []byte(`{"drn":"47000000019"}`),
		LastTID: 100, Month: "2026-12", MonthUnits: 49, LastVend: "v1"}}
	if diff := cmp.Diff(wantM, meters); diff != "" {
		t.Errorf("meters (-want +got):\n%s", diff)
	}
	counts, err := l.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	wantC := []CountRow{{State: Accepted, Outcome: "accept", Tokens: 1, Units: 49}}
	if diff := cmp.Diff(wantC, counts); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
}

func TestFailedRequestRollsBackAlone(t *testing.T) {
	l := openTest(t, filepath.Join(t.TempDir(), "ledger.db"),
		Options{Window: 50 * time.Millisecond})
	addMeter(t, l, "47000000019")
	ms := MeterState{DRN: "47000000019", LastTID: 1}
	ctx := context.Background()
	if err := l.Submit(ctx, InsertVend(testVend("dup", ms.DRN, 1), ms)); err != nil {
		t.Fatal(err)
	}
	// Two requests in one batch (the window holds the writer): the
	// duplicate fails, the other commits.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, id := range []string{"dup", "fresh"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.Submit(ctx, InsertVend(testVend(id, ms.DRN, 2), ms))
		}()
	}
	wg.Wait()
	if !errors.Is(errs[0], ErrDuplicate) {
		t.Errorf("duplicate insert = %v, want ErrDuplicate", errs[0])
	}
	if errs[1] != nil {
		t.Errorf("fresh insert = %v, want nil", errs[1])
	}
	if _, err := l.Vend(context.Background(), "fresh"); err != nil {
		t.Errorf("fresh vend not written: %v", err)
	}
	if _, err := l.Vend(context.Background(), "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Vend(nope) = %v, want ErrNotFound", err)
	}
}

// A request whose first statement succeeds and a later one fails is
// rolled back whole, in a batch whose other requests commit.
func TestPartlyFailedRequestInBatch(t *testing.T) {
	var batches []int
	var mu sync.Mutex
	l := openTest(t, filepath.Join(t.TempDir(), "ledger.db"),
		Options{Window: 200 * time.Millisecond, OnCommit: func(n int, _ time.Duration, _ error) {
			mu.Lock()
			batches = append(batches, n)
			mu.Unlock()
		}})
	addMeter(t, l, "47000000019")
	ctx := context.Background()
	mu.Lock()
	batches = nil
	mu.Unlock()
	// "orphan" inserts its vend row, then fails on its meter's update.
	ids := []string{"before", "orphan", "after"}
	meters := []string{"47000000019", "47000000027", "47000000019"}
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ms := MeterState{DRN: meters[i]}
			errs[i] = l.Submit(ctx, InsertVend(testVend(ids[i], meters[i], uint32(i)), ms))
		}()
	}
	wg.Wait()
	if !errors.Is(errs[1], ErrNotFound) {
		t.Errorf("vend for an unknown meter = %v, want ErrNotFound", errs[1])
	}
	for _, i := range []int{0, 2} {
		if errs[i] != nil {
			t.Errorf("vend %s = %v, want nil", ids[i], errs[i])
		}
		if _, err := l.Vend(ctx, ids[i]); err != nil {
			t.Errorf("vend %s not written: %v", ids[i], err)
		}
	}
	if _, err := l.Vend(ctx, "orphan"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the failed vend's row was kept: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(batches) != 1 || batches[0] != 3 {
		t.Errorf("commits held %v requests, want one of 3", batches)
	}
}

func TestIdempotencyKeyIsUnique(t *testing.T) {
	l := openTest(t, filepath.Join(t.TempDir(), "ledger.db"), Options{})
	addMeter(t, l, "47000000019")
	ms := MeterState{DRN: "47000000019"}
	a, b := testVend("a", ms.DRN, 1), testVend("b", ms.DRN, 2)
	a.IdempotencyKey, b.IdempotencyKey = "k1", "k1"
	a.RequestHash = "h"
	if err := l.Submit(context.Background(), InsertVend(a, ms)); err != nil {
		t.Fatal(err)
	}
	if err := l.Submit(context.Background(), InsertVend(b, ms)); !errors.Is(err, ErrDuplicate) {
		t.Errorf("second vend with key k1 = %v, want ErrDuplicate", err)
	}
	got, err := l.VendByIdempotencyKey(context.Background(), "k1")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "a" || got.RequestHash != "h" {
		t.Errorf("VendByIdempotencyKey = %s/%s, want a/h", got.ID, got.RequestHash)
	}
	// Vends without a key do not collide with each other.
	for _, id := range []string{"c", "d"} {
		v := testVend(id, ms.DRN, 3)
		if err := l.Submit(context.Background(), InsertVend(v, ms)); err != nil {
			t.Errorf("vend %s without key: %v", id, err)
		}
	}
	var keys []string
	err = l.IdempotencyKeys(context.Background(), func(k string) error {
		keys = append(keys, k)
		return nil
	})
	if err != nil || !slices.Equal(keys, []string{"k1"}) {
		t.Errorf("IdempotencyKeys = %q, %v; want [k1]", keys, err)
	}
}

func TestInsertVendNeedsMeter(t *testing.T) {
	l := openTest(t, filepath.Join(t.TempDir(), "ledger.db"), Options{})
	v := testVend("v", "47000000019", 1)
	err := l.Submit(context.Background(), InsertVend(v, MeterState{DRN: v.Meter}))
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("InsertVend for an unknown meter = %v, want ErrNotFound", err)
	}
	if _, err := l.Vend(context.Background(), "v"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the failed vend was written: %v", err)
	}
}

func TestOpenVendsAndLost(t *testing.T) {
	l := openTest(t, filepath.Join(t.TempDir(), "ledger.db"), Options{})
	addMeter(t, l, "47000000019")
	ms := MeterState{DRN: "47000000019"}
	for i, id := range []string{"a", "b", "c"} {
		v := testVend(id, ms.DRN, uint32(i))
		v.ReceivedAt = t0.Add(time.Duration(i) * time.Second)
		if err := l.Submit(context.Background(), InsertVend(v, ms)); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	err := l.Submit(ctx, RecordResult("a", 0, Rejected, "crc_error", t0),
		MarkLost("b", 0, t0), RecordAttempt("c", 0, 3, t0.Add(time.Minute), t0.Add(2*time.Minute)),
		RecordAttempt("c", 0, 2, t0, t0))
	if err != nil {
		t.Fatal(err)
	}
	open, err := l.OpenVends(ctx)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		ID       string
		State    State
		Attempts int
		Sent     time.Time
	}
	var got []row
	for _, v := range open {
		for _, tk := range v.Tokens {
			got = append(got, row{v.ID, tk.State, tk.Attempts, tk.LastSentAt})
		}
	}
	// Attempts and send times never go back, but the due time is the
	// latest written.
	want := []row{{"b", Lost, 1, t0}, {"c", Issued, 3, t0.Add(time.Minute)}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("open vends (-want +got):\n%s", diff)
	}
	// A result after lost still settles the token.
	if err := l.Submit(ctx, RecordResult("b", 0, Accepted, "accept", t0)); err != nil {
		t.Fatal(err)
	}
	v, err := l.Vend(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if v.Tokens[0].State != Accepted {
		t.Errorf("lost token after a result is %s, want accepted", v.Tokens[0].State)
	}
}

func TestEnqueueIsCommittedByClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	var mu sync.Mutex
	var asyncErrs []error
	l := openTest(t, path, Options{OnAsyncError: func(err error) {
		mu.Lock()
		asyncErrs = append(asyncErrs, err)
		mu.Unlock()
	}})
	addMeter(t, l, "47000000019")
	ms := MeterState{DRN: "47000000019"}
	ctx := context.Background()
	for i := range 50 {
		v := testVend(fmt.Sprintf("v%02d", i), ms.DRN, uint32(i))
		if err := l.Enqueue(ctx, InsertVend(v, ms)); err != nil {
			t.Fatal(err)
		}
	}
	// A bad async op reports through the callback.
	if err := l.Enqueue(ctx, RecordResult("v00", 0, Issued, "", t0)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Enqueue(ctx, AddMeter("x", nil, t0)); !errors.Is(err, ErrClosed) {
		t.Errorf("Enqueue after Close = %v, want ErrClosed", err)
	}
	mu.Lock()
	if len(asyncErrs) != 1 {
		t.Errorf("async errors = %v, want one", asyncErrs)
	}
	mu.Unlock()
	l = openTest(t, path, Options{})
	counts, err := l.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) != 1 || counts[0].Tokens != 50 {
		t.Errorf("after Close and reopen counts = %+v, want 50 issued tokens", counts)
	}
}

func TestGroupCommitBatches(t *testing.T) {
	var mu sync.Mutex
	var batches []int
	l := openTest(t, filepath.Join(t.TempDir(), "ledger.db"), Options{
		Window: 20 * time.Millisecond,
		OnCommit: func(n int, _ time.Duration, _ error) {
			mu.Lock()
			batches = append(batches, n)
			mu.Unlock()
		},
	})
	addMeter(t, l, "47000000019")
	ms := MeterState{DRN: "47000000019"}
	const n = 64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := testVend(fmt.Sprint(i), ms.DRN, 1)
			errs <- l.Submit(context.Background(), InsertVend(v, ms))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	total := 0
	for _, b := range batches[1:] { // batches[0] is AddMeter
		total += b
	}
	if total != n {
		t.Errorf("batches %v hold %d requests, want %d", batches, total, n)
	}
	if len(batches)-1 >= n {
		t.Errorf("%d commits for %d concurrent requests: no batching", len(batches)-1, n)
	}
}

// TestLedgerFilesAreOwnerOnly checks that the database and its WAL files,
// which hold spendable tokens, are readable by their owner alone, also
// when an existing file was created more widely readable.
func TestLedgerFilesAreOwnerOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vendor.db")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	l := openTest(t, path, Options{})
	addMeter(t, l, "37194275246")
	ms := MeterState{DRN: "37194275246", LastTID: 1, LastVend: "v1"}
	if err := l.Submit(context.Background(), InsertVend(testVend("v1", ms.DRN, 1), ms)); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s has mode %o, want 600", filepath.Base(p), mode)
		}
	}
}
