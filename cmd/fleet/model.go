package main

import (
	"fmt"
	"math/rand/v2"

	"github.com/stsfleet/stsfleet/analytics/receipts"
	"github.com/stsfleet/stsfleet/fleet"
)

// modelAmounts draws purchase amounts from a purchase model fitted from
// receipts.
type modelAmounts struct{ m *receipts.PurchaseModel }

// Sample implements fleet.Sampler.
func (s modelAmounts) Sample(r *rand.Rand) string { return s.m.SampleAmount(r).String() }

// loadPurchaseModel reads a purchase model fitted from receipts and returns
// it as the amounts customers pay. The model's currency must be the
// tariff's; the vendor refuses any other.
func loadPurchaseModel(path string) (fleet.Sampler, error) {
	m, err := receipts.LoadPurchaseModel(path)
	if err != nil {
		return nil, fmt.Errorf("load purchase model: %w", err)
	}
	return modelAmounts{m}, nil
}
