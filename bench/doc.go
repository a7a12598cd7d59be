// Package bench is the product's load bench: how many tokens per second the
// vending path delivers end to end, at what latency, and what the MQTT
// broker alone carries on the same machine.
//
//   - [RunVend] drives purchases at an open-model rate through the whole
//     path (purchase request, token, MQTT delivery, meter decrypt and
//     credit, result back), against the product running in this process
//     (broker, vending service behind its HTTP API, a fleet of meters) or
//     an external vendor and broker, and measures vend_to_issue,
//     issue_to_credit and vend_to_credit per token on one clock.
//   - [RunBroker] runs the same two QoS 1 legs without STS or vending: a
//     vendor account publishes probes to meters' token topics and the
//     meters publish them back on their result topics.
//   - [RunConnect] connects a fleet to a broker in another process over
//     TCP and reports connections per second and peak memory per meter.
//
// Every request settles in exactly one state (package bench/load); a run
// is judged by thresholds in the grammar of package scenarios/threshold,
// over the names the bench itself reports ([ThresholdNames],
// [ParseThreshold]), and [FindMax] steps the rate up until one breaks. Package bench/report
// writes the [Report] as a table, JSON, CSV and HTML.
//
// # Concurrency
//
// The Run functions block until their run is over and may be called from
// any goroutine; each owns every goroutine and connection it starts and
// ends them before it returns. A Report is a plain value once returned.
package bench
