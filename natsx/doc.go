// Package natsx owns the product's use of NATS: the embedded nats-server
// with JetStream that starts with the broker and in the all-in-one, the
// JetStream stream that keeps results, final readings and vend events for
// consumers that restart, durable consumers over a set of partitions,
// client connections whose asynchronous errors (slow consumers above all)
// are counted and logged rather than lost, and the publisher through which
// the vendor announces vends. A connection tells its course in the log,
// rate-limited: waiting for a server that is not there yet, connected,
// lost, credentials refused; refused credentials at the first attempt are
// an error ([ErrCredentialsRefused]) naming the server and the account.
//
// The subjects themselves belong to the wire contract (package
// protocol/wire); this package only puts them to work.
//
// A [Server] is safe for concurrent use; Shutdown is idempotent. A
// [VendPublisher] may be shared by any number of goroutines. The helpers
// that talk to JetStream retry while a clustered JetStream elects its
// leaders and give up when their context ends.
package natsx
