// Package analytics aggregates what the fleet reports over NATS: energy
// sold, credited, consumed, cleared and remaining by utility, revenue,
// tokens by outcome, meters with their supply cut for no credit,
// vend-to-credit latency, telemetry lag and anomalies. A [Service] serves
// the totals as Prometheus metrics and as a JSON [Summary].
//
// # Sharing the load
//
// Instances share the load by meter, not by message. Every subject carries
// the partition of its meter's DRN (see protocol/wire), and an instance owns
// a [PartitionSet]: it subscribes only to those partitions, so all of one
// meter's messages reach one instance, and the deployment's totals are the
// sum of its instances' ([Merge], [Combine]). Instances over disjoint sets
// that cover every partition see every meter exactly once.
//
// # Exactness
//
// Totals are exact: every figure is an [Amount], an integer count of
// millionths, and never a float. Energy consumed and remaining come from
// each meter's latest cumulative reading: a reading replaces the meter's
// last one only when its sequence number is higher, so duplicates and
// readings that arrive out of order change nothing, and a lost reading
// loses nothing once a later one arrives. Results, vend events and final
// readings travel through JetStream: each instance reads them through a
// durable consumer, acknowledging a message only once a checkpoint of the
// totals that include it is written (with Config.StateDir), or rebuilding
// the totals from the whole stream on every start (without). Either way a
// restart ends with the same totals as an uninterrupted run. A redelivered
// message is recognised by its stream sequence and applied once; a vend
// event or result seen twice is counted once.
//
// A token is counted by its first result: accepted when that was accept or
// kct_pending, rejected otherwise; a redelivered copy answered used_error
// changes nothing. An anomaly is a reading whose consumed register grew
// since the meter's previous reading although both show the relay open for
// the same reason and no credit arrived in between. (A relay that closed
// and opened again between the two readings, as after a power-limit trip
// and reconnection, looks the same: readings closer together than the trip
// recovery avoid that.)
//
// # Concurrency
//
// A Service's methods may be called from any goroutine. Run owns two
// goroutines (JetStream and telemetry) and the HTTP server; each message is
// applied atomically under one lock, and a scrape or summary sees a
// consistent view. Slow-consumer events (telemetry the NATS client dropped
// because the instance fell behind) are counted and logged, rate-limited.
package analytics
