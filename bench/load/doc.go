// Package load is the measuring core of the product's load benches: an
// open-model arrival schedule, the accounting of every request, and latency
// histograms with a per-second history.
//
// # Open model
//
// A [Profile] is a target arrival rate over time: constant, or stages that
// ramp linearly between targets ([ParseStages]). A [Scheduler] turns it into
// intended send times and calls its fire function at each one, whatever the
// system under test is doing: arrivals never wait for responses. When the
// scheduler itself falls behind, it fires the late arrivals at once with
// their intended times, and latency is measured from the intended time, so
// neither a slow system nor a slow generator can hide latency (coordinated
// omission).
//
// # Accounting
//
// A [Recorder] counts every arrival and settles each in exactly one state
// ([State]): accepted, rejected (by outcome), failed (by error kind), timed
// out or lost. It keeps an HDR histogram per latency name for the whole run
// and per wall-clock second, and a per-second series of rates, in flight
// and percentiles. [Result] is its end-of-run account, which package
// bench/report writes as a table, JSON, CSV and HTML.
//
// # Concurrency
//
// Profile and Result are plain values. A Scheduler runs one schedule at a
// time. Every method of Recorder and Histogram is safe for concurrent use,
// except that a Histogram passed to Merge must not change meanwhile.
package load
