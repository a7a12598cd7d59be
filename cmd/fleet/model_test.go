package main

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/stsfleet/stsfleet/analytics/receipts"
)

func TestPurchaseModelAmounts(t *testing.T) {
	m := &receipts.PurchaseModel{
		Version: receipts.PurchaseModelVersion, Currency: "KES",
		Amount: receipts.AmountModel{Method: receipts.MethodEmpirical,
			Values: []receipts.WeightedAmount{
				{Value: receipts.DecimalOf(10000), Weight: 3},
				{Value: receipts.DecimalOf(50050), Weight: 1},
			},
			Min: receipts.DecimalOf(10000), Max: receipts.DecimalOf(50050),
			Step: receipts.DecimalOf(50)},
		Interval: receipts.IntervalModel{Method: receipts.MethodEmpirical,
			QuantilesHours: []float64{12, 24, 48}, MeanHours: 26},
		HourWeights: make([]float64, 24),
	}
	m.HourWeights[18] = 1
	path := filepath.Join(t.TempDir(), "model.json")
	if err := m.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	s, err := loadPurchaseModel(path)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	r := rand.New(rand.NewPCG(1, 2))
	for range 400 {
		seen[s.Sample(r)]++
	}
	if len(seen) != 2 || seen["100.00"] < 200 || seen["500.50"] < 50 {
		t.Errorf("drawn amounts %v, want 100.00 about three times as often as 500.50", seen)
	}
	if _, err := loadPurchaseModel(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("a missing model loaded")
	}
}
