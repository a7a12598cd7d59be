// Package broker owns the product's MQTT broker: mochi-mqtt embedded with the
// fleet's authentication and topic ACL, listening on TCP (optionally TLS)
// and in memory.
//
// # Who may connect
//
// A meter signs in with its DRN as username and client identifier and
// MeterPassword(fleetSecret, drn) as password; the broker recomputes the
// password at every connect, so it stores nothing per meter. Accounts (see
// Account and Role) sign in with their own username and password.
//
// # What each may do
//
// Topics are those of protocol/wire: sts/v1/meters/{drn}/{kind}.
//
//   - A meter subscribes only to its own token topic and publishes only its
//     own result, telemetry and status topics (its last will included).
//   - RoleVendor publishes to any meter's token topic and reads results
//     and status, through shared subscriptions too (wire.SharedResultFilter).
//   - RoleAnalytics reads results, telemetry and status.
//
// Only status messages may be retained. Everything else is refused and
// counted by kind (Stats, and broker_refusals_total). MQTT 3.1.1 has no way
// to tell a client its publish was refused: the broker acknowledges it and
// drops it, as mosquitto does, so the counters are how a refusal is seen. A
// refused subscription gets the SUBACK return code 0x80.
//
// # Sessions
//
// Sessions of clients connecting with CleanSession=false are kept in memory
// for Config.SessionExpiry after they disconnect, and QoS 1 messages for
// them are queued (up to Config.MaxInflight) and delivered when they
// reconnect. Nothing survives a restart of the broker. A message for a
// shared subscription goes to a connected member of the group when there is
// one, so a vendor that is away does not hold back its share.
//
// # Outbound queues
//
// Each client has an outbound queue; a message that finds it full is
// dropped and counted, by topic kind and by the role of the client it was
// for (Stats.DroppedTo, broker_publishes_dropped_total). A meter's queue is
// short (Config.MaxWritesPending), since thousands are allocated and a
// meter receives only its tokens. The vendor and analytics read every
// meter's results, so their clients get a deep one
// (Config.AccountWritesPending) that holds a burst from the whole fleet;
// to size it, the broker reads each CONNECT packet before mochi does.
//
// mochi's own warnings are about single clients and messages; they are
// logged at Debug, and at Warn at most once per message every ten seconds
// with a count of the rest. Those that only report a closed connection
// stay at Debug.
//
// # In memory
//
// Dial returns a net.Conn whose other end is served by the broker as if it
// had been accepted on a socket. It is buffered like a socket (net.Pipe is
// not, and two MQTT peers writing to each other over it can block each
// other), and it uses no file descriptor, so one process can run the
// broker and thousands of meters.
//
// # Lifecycle and concurrency
//
// New, then Start and Shutdown (or Run). Shutdown stops intake, disconnects
// the clients, closes their connections and waits for every goroutine the
// package started. All methods of Broker are safe for concurrent use.
package broker
