// Package vending is the vending service: it sells credit for a fleet of
// STS prepaid meters, issues their tokens and delivers them over MQTT. It
// owns the fleet definition and its key files, the tariffs, TID
// allocation, the ledger (sub-package ledger), at-least-once delivery and
// the HTTP API described in docs/vending.md.
//
// # Fleet and keys
//
// A [Definition] lists the meters (DRN, utility, key identity, tariff) and
// tariffs; it holds no key. A [KeyStore] holds one vending key per decoder
// key generation algorithm; an [Injection] holds each meter's decoder key,
// derived from it, as a manufacturer loads it. [NewFleet] generates all
// three deterministically from a seed (the keys from crypto/rand), and
// [Fleet.Write] writes them, the key files 0600. Keys never appear in logs:
// the key types print their algorithm only.
//
// # Vending
//
// A vend is priced under the meter's [Tariff] in exact decimals (a money
// vend rounds the credit down to what the amount pays for and the token's
// amount field carries exactly), gets a TID from the simulated clock that
// is strictly increasing per meter (bumped a minute when the minute is
// taken), and is refused with a [*RuleError] past the key's KEN (checked
// first), to a meter holding a DDTK, or while a key change is in flight.
// Bad input is a [*FieldError] naming the field.
//
// # Ordering and delivery
//
// A vend holds its meter's lock from TID allocation to its ledger commit,
// so a meter's TIDs are committed in order; vends to different meters run
// concurrently and share group commits. Nothing is published before its
// ledger commit. Every token is published as a wire.TokenMessage at QoS 1
// through a [Publisher] and published again with exponential backoff until
// the meter's first result arrives or the attempts run out (lost). Only a
// token's first result counts: a copy answered used_error never credits
// twice. Results enter through [Service.HandleResult], which only queues
// them; Run's workers handle each meter's results in arrival order.
//
// # Concurrency
//
// Every method of [Service] is safe for concurrent use. [Service.Run] owns
// the result workers and the redelivery ticker and returns when its
// context ends; [Service.Close] closes the ledger after Run has returned.
// Definitions, tariffs and key stores are not modified by the service.
package vending
