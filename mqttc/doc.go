// Package mqttc is the product's MQTT client: paho.mqtt.golang behind an API
// that speaks context. Connect, Publish, Subscribe and Unsubscribe wait on
// the broker and on their context, whichever comes first, so no caller
// blocks forever on a paho token.
//
// A Client speaks MQTT 3.1.1 over TCP, TLS, or any net.Conn a dialer returns
// (the in-memory transport of package broker). Sessions are persistent by
// default; subscriptions given to Connect have their handlers in place
// before the connection opens, so a session's queued messages are not lost,
// and every subscription is made again after an automatic reconnection. A
// refused subscription is an error (ErrSubscribeRefused), not a silent
// 0x80.
//
// # Connecting
//
// With Options.ConnectRetry, Connect waits for a broker that is not there
// yet, with a growing pause, but returns at once an error matching
// ErrCredentialsRefused when the broker refuses the account: retrying would
// not mend it. Errors name the broker and the account, never the password.
// With Options.LogConnection, for a service, the client logs the course of
// its connection, rate-limited: waiting for the broker (with the reason and
// the next pause), connected, lost, credentials refused on a reconnection.
//
// # Handlers
//
// Messages are delivered to handlers one at a time, in order, on one
// goroutine per client, and each is acknowledged when its handler returns.
// A handler must not block: it hands the message to another goroutine and
// returns. Messages no handler matches go to Options.DefaultHandler, or are
// counted (Client.Unhandled) and dropped.
//
// # Concurrency and lifecycle
//
// All methods of Client are safe for concurrent use. Disconnect ends the
// client for good; a new connection needs a new Connect, as paho clients
// must not be reused.
package mqttc
