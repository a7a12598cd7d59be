// Package bridge forwards what meters publish over MQTT into NATS: results
// and final readings through JetStream, so that a consumer that restarts
// misses nothing, and ordinary telemetry on core NATS. It works with any
// MQTT broker, through an account allowed to read every meter's result and
// telemetry topics (the broker package's analytics role).
//
// Subjects come from protocol/wire: sts.v1.{channel}.{partition}.{drn}, the
// partition a hash of the DRN, so analytics instances can share meters.
// Payloads are forwarded byte for byte after a check against the contract;
// a reading is routed to the final channel when it is marked final.
//
// # Delivery
//
// The MQTT handler never blocks: it hands each message to the worker of its
// meter (a bounded queue), so one meter's messages stay in order, and a
// full queue drops the message, counts it and logs it, rate-limited. A
// JetStream publish waits for the stream's acknowledgement and is tried
// again with a growing pause; its Nats-Msg-Id is a hash of subject and
// payload, so a retry, or a QoS 1 duplicate from the broker, is stored
// once. A message that still fails, or breaks the contract, is counted and
// logged. Nothing is dropped silently: see [Bridge.Stats] and the bridge_*
// metrics.
//
// # Lifecycle
//
// New, then Run until its context ends: Run stops intake by disconnecting
// from MQTT (the persistent session keeps later QoS 1 messages at the
// broker), forwards what is queued within the drain timeout and waits for
// its workers. A Bridge's methods are safe for concurrent use; Run runs
// once at a time.
package bridge
