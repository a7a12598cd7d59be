// Package scenarios runs scenario files: stories of vending operations and
// attacks told to a running fleet, with what must happen after each step
// and thresholds over the run (docs/scenarios.md).
//
// It owns the scenario format (YAML, documented by the embedded JSON
// [Schema], which [Parse] validates against before anything starts, with
// problems naming the line and field), the engine that carries the steps
// out ([Run]) against a [System], and [Stack], the System that embeds a
// broker and a vending service (or points at external ones) and runs the
// scenario's own fleet. The thresholds' grammar is package
// scenarios/threshold, which load benches share.
//
// # Ordering and concurrency
//
// A run carries its steps out one after the other, and within a step acts
// on its meters in order. A step's expectations are checked once the
// results it caused have arrived, or its timeout has passed. Results
// arrive on the broker client's goroutine and are recorded under a lock;
// everything else of a run happens on the goroutine that called Run. A
// Scenario is read-only once parsed and may be run any number of times,
// concurrently on different Systems. Stack's methods are safe for
// concurrent use.
//
// # Secrets
//
// A Stack holds the fleet's decoder keys, to make tokens offline as the
// token tools do. Vending keys of an embedded vendor derive from the
// fleet's seed, so that a scenario replays identically: they are
// simulation keys for a throw-away fleet. Nothing logs a key.
package scenarios
