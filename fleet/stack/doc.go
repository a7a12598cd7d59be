// Package stack runs the product in one process: an embedded MQTT broker
// (meters connected in memory, or over loopback TCP), the vending service
// with a fresh vending key and a temporary SQLite ledger, and a fleet of
// virtual meters whose customers buy through the vendor's HTTP API and
// receive their tokens over MQTT. Any part can instead be an external
// server: Config.BrokerURL, Config.VendorURL. It is what `fleet` runs with
// no arguments, and what scenario runs and benchmarks build on.
//
// With a state directory (Config.Fleet.StateDir) a stack keeps what the
// next one needs to continue its run: each meter's state, the embedded
// vendor's ledger, a generated fleet's definition and vending keys, and
// the simulated time it stopped at (see [StateLedger] and [ResumeTime]).
//
// Start brings the parts up in order and returns once every meter is
// connected; Run lets a timed run go by, drains it (customers stop buying,
// every token gets its result), takes the final readings and returns the
// Summary with its conservation checks; Shutdown stops the parts in
// reverse order and waits for all of them. The fleet's HTTP API and one
// /metrics gathering every part's own registry are served on one address.
//
// A Stack's methods are safe for concurrent use; Shutdown is idempotent.
package stack
