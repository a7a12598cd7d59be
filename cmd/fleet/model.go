package main

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/stsfleet/stsfleet/analytics/receipts"
	"github.com/stsfleet/stsfleet/fleet"
)

// modelAmounts draws purchase amounts from a purchase model fitted from
// receipts.
type modelAmounts struct{ m *receipts.PurchaseModel }

// Sample implements fleet.Sampler.
func (s modelAmounts) Sample(r *rand.Rand) string { return s.m.SampleAmount(r).String() }

// BuyAt implements fleet.Timing: the customer buys at the next hour of the
// day drawn from the model's hour weights, with a uniform minute, read in
// the zone of the receipts the model was fitted from.
func (s modelAmounts) BuyAt(r *rand.Rand, low time.Time) time.Time {
	loc := s.m.Fitted.First.Location()
	l := low.In(loc)
	at := time.Date(l.Year(), l.Month(), l.Day(), s.m.SampleHour(r), r.IntN(60), 0, 0, loc)
	if at.Before(l) {
		at = at.AddDate(0, 0, 1)
	}
	return at
}

// loadPurchaseModel reads a purchase model fitted from receipts and returns
// it as the amounts customers pay and the hours at which they buy. The model's currency must be the
// tariff's; the vendor refuses any other.
func loadPurchaseModel(path string) (fleet.Sampler, error) {
	m, err := receipts.LoadPurchaseModel(path)
	if err != nil {
		return nil, fmt.Errorf("load purchase model: %w", err)
	}
	return modelAmounts{m}, nil
}
