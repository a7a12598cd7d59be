// Package wire defines the messages that cross the network between the
// vending service, the meters and analytics: the versioned MQTT topics, their
// JSON payloads, and the NATS subjects they are bridged to. docs/asyncapi.yaml
// documents the same contract for people and other tools; tests keep the two
// in step. The package embeds a copy of the document, and ValidatePayload
// checks a payload against its schemas, so that the tests of every sender
// can check what it publishes.
//
// Every payload type is a plain value, safe to copy and to use from any
// goroutine. Decoders reject unknown versions and malformed fields with an
// error that names the field.
package wire
