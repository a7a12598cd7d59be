// Package statuspage is the product's built-in status page: fleet totals
// and a few charts (vends per second, electricity sold, consumed and
// remaining, token results by outcome, fraud attempts by kind) rendered on
// the server as HTML with inline SVG, for people who run the product
// without Prometheus and Grafana. The page reloads itself; it needs no
// JavaScript and no build step.
//
// A [Page] reads a prometheus.Gatherer, the same metrics /metrics serves,
// so it shows whatever parts run in the process: analytics alone (analytics
// serve), or broker, vendor, fleet and analytics together (the all-in-one
// with --serve). Where analytics is absent it falls back to the vendor's
// and the fleet's own counters, and leaves out what only analytics knows.
//
// [Page.Run] samples the gatherer at a fixed interval into a short
// in-memory ring; rates are computed between neighbouring samples, and a
// counter that goes back (a restarted part, or the next scenario of a run)
// counts as a reset, as Prometheus's rate does. Nothing is stored on disk.
//
// # Concurrency
//
// A Page is safe for concurrent use: one goroutine runs [Page.Run] while
// any number serve it. The ring is guarded by a mutex held only to copy
// it; rendering works on the copy.
package statuspage
