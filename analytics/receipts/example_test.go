package receipts_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/stsfleet/stsfleet/analytics/receipts"
)

// The fleet simulator loads a model fitted by "analytics receipts model"
// and draws each customer's next purchase from it.
func ExamplePurchaseModel() {
	// Fit the fixture, as "analytics receipts model sample.txt --out
	// model.json" does.
	in, err := os.Open("testdata/sample.txt")
	if err != nil {
		panic(err)
	}
	defer in.Close()
	fitter := receipts.NewModelFitter()
	_, err = receipts.Import(context.Background(), in, receipts.Config{},
		func(r *receipts.Receipt) error { fitter.Add(r); return nil })
	if err != nil {
		panic(err)
	}
	fitted, err := fitter.Fit(receipts.FitOptions{})
	if err != nil {
		panic(err)
	}
	path := filepath.Join(os.TempDir(), "example-purchase-model.json")
	defer os.Remove(path)
	if err := fitted.WriteFile(path); err != nil {
		panic(err)
	}

	// What a simulator does with it.
	m, err := receipts.LoadPurchaseModel(path)
	if err != nil {
		panic(err)
	}
	r := rand.New(rand.NewPCG(2024, 7))
	last := time.Date(2025, 1, 1, 9, 0, 0, 0, time.FixedZone("EAT", 3*3600))
	for range 5 {
		last = m.NextPurchase(r, last)
		fmt.Printf("%s  %s %s\n", last.Format("2006-01-02 15:04"), m.Currency, m.SampleAmount(r))
	}
	// Output:
	// 2025-06-08 07:45  KES 1000.00
	// 2025-10-03 18:15  KES 50.00
	// 2026-01-16 00:48  KES 50.00
	// 2026-06-26 18:06  KES 100.00
	// 2026-10-10 18:01  KES 200.00
}
