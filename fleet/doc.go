// Package fleet runs fleets of virtual STS prepaid meters over MQTT. Each
// meter is an actor: one goroutine owns its meter.Meter and its MQTT client
// (client ID and username its DRN, the password derived from the fleet
// secret, a persistent session, a retained online status with an offline
// last will), subscribed to its token topic at QoS 1.
//
// # A meter's life
//
// Token messages are handed from paho's handler to the meter's goroutine
// through an unbounded mailbox, so paho is never held up. The meter enters
// each token at the simulated time of the shared simclock.Clock, publishes
// its result at QoS 1, and records the outcome (the events file, the
// metrics, the meter's HTTP view, its state file). Every Config.Step of
// simulated time the meter runs its consumption; every
// Config.TelemetryInterval it publishes a cumulative reading (QoS 0 by
// default); Final publishes one last reading at QoS 1 and stops the
// meter's clock. Tokens typed at the keypad (Fleet.Type) go through the
// same goroutine and publish their result alike.
//
// # Customers
//
// When a meter's balance falls below its utility's threshold, its
// customer buys from the Vendor (the vending service's HTTP API through
// HTTPVendor), an amount drawn from the PurchasePolicy, one purchase at a
// time; a pool of Config.Buyers goroutines makes the requests, so a slow
// vendor never holds up a meter.
//
// # Ordering and concurrency
//
// A meter handles its tokens in the order the broker delivered them, and
// keypad entries in the order of the calls. Meters share nothing mutable;
// no goroutine but a meter's own touches its meter. Every method of Fleet
// is safe for concurrent use. New builds, Start connects at
// Config.ConnectRate per second, Shutdown stops intake, lets each meter
// enter what it received, saves it, disconnects it and waits for every
// goroutine the package started.
package fleet
