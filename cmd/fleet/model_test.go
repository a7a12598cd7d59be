package main

import (
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

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

// TestPurchaseModelTiming checks that customers buy at the model's hours,
// read in the zone of the receipts it was fitted from.
func TestPurchaseModelTiming(t *testing.T) {
	eat := time.FixedZone("", 3*3600)
	m := &receipts.PurchaseModel{HourWeights: make([]float64, 24),
		Fitted: receipts.FitInfo{First: time.Date(2024, 1, 1, 9, 0, 0, 0, eat)}}
	m.HourWeights[18] = 1
	s := modelAmounts{m}
	r := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		low     time.Time
		wantDay int
	}{
		{time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC), 2},  // 11:00 local: today at 18
		{time.Date(2026, 3, 2, 20, 0, 0, 0, time.UTC), 3}, // 23:00 local: tomorrow
	} {
		at := s.BuyAt(r, tc.low).In(eat)
		if at.Before(tc.low) || at.Hour() != 18 || at.Day() != tc.wantDay {
			t.Errorf("BuyAt(%v) = %v, want 18:xx local on day %d", tc.low, at, tc.wantDay)
		}
	}
}
