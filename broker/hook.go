package broker

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"log/slog"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stsfleet/stsfleet/internal/ratelimit"
	"github.com/stsfleet/stsfleet/protocol/sts"
)

// meterPasswordLabel separates the meter passwords from any other use of
// the fleet secret.
const meterPasswordLabel = "stsfleet mqtt meter password\x00"

// MeterPassword returns the MQTT password of the meter with this DRN:
// base64url without padding of HMAC-SHA-256, keyed with the fleet secret,
// over "stsfleet mqtt meter password", a zero byte and the DRN. The broker
// recomputes it at every connect, so it stores nothing per meter. The fleet
// computes it to connect; tests use it to write other brokers' password
// files. The result is a credential: never log it.
func MeterPassword(secret []byte, drn string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(meterPasswordLabel))
	mac.Write([]byte(drn))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// hook is the broker's mochi hook: authentication, client identifiers,
// wills and the topic ACL. Its methods run on mochi's client goroutines;
// it only reads its settings and updates atomic counters.
type hook struct {
	mqtt.HookBase
	server   *mqtt.Server
	secret   []byte
	accounts map[string]account
	stats    *counters
	log      *slog.Logger
	// refusals rate-limits the warning of a refused vendor or analytics
	// account, one line per account and period.
	refusals *ratelimit.Limiter
}

// ID implements mqtt.Hook.
func (h *hook) ID() string { return "stsfleet-auth" }

// Provides implements mqtt.Hook.
func (h *hook) Provides(b byte) bool {
	return bytes.Contains([]byte{
		mqtt.OnConnect,
		mqtt.OnConnectAuthenticate,
		mqtt.OnSessionEstablish,
		mqtt.OnACLCheck,
		mqtt.OnSubscribe,
		mqtt.OnPublish,
		mqtt.OnSelectSubscribers,
	}, []byte{b})
}

// claimed returns the identity a CONNECT packet claims, before its password
// is checked: known is false for a username that is neither an account nor
// a valid DRN.
func (h *hook) claimed(username string) (id identity, known bool) {
	if a, ok := h.accounts[username]; ok {
		return identity{role: a.role}, true
	}
	if sts.ValidateDRN(username) == nil {
		return identity{role: roleMeter, drn: username}, true
	}
	return identity{}, false
}

// identityOf returns the identity of an authenticated client: an account's
// username, or else the DRN that authentication checked.
func (h *hook) identityOf(cl *mqtt.Client) identity {
	if a, ok := h.accounts[string(cl.Properties.Username)]; ok {
		return identity{role: a.role}
	}
	return identity{role: roleMeter, drn: string(cl.Properties.Username)}
}

// OnConnect implements mqtt.Hook. It refuses a client identifier or a will
// that does not fit the claimed identity, with its own CONNACK code. mochi
// calls it before OnConnectAuthenticate, which checks the password.
func (h *hook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	// mochi has created the client, and its outbound queue, by now.
	releaseQueue(cl)
	user := string(pk.Connect.Username)
	id, known := h.claimed(user)
	if !known {
		return nil
	}
	if !mayUseClientID(id, pk.Connect.ClientIdentifier) {
		h.stats.clientIDRefusals.Add(1)
		h.log.Debug("mqtt connect refused: client identifier",
			"user", user, "client_id", pk.Connect.ClientIdentifier)
		// [MQTT-3.2.2-5] mochi sends v3 clients 0x02, identifier rejected.
		return h.refuse(cl, packets.ErrClientIdentifierNotValid)
	}
	if pk.Connect.WillFlag && !mayPublish(id, pk.Connect.WillTopic, pk.Connect.WillRetain) {
		h.stats.willRefusals.Add(1)
		h.log.Debug("mqtt connect refused: will", "user", user, "topic", pk.Connect.WillTopic)
		// mochi sends v3 clients 0x05, not authorized, for this code.
		return h.refuse(cl, packets.ErrBadUsernameOrPassword)
	}
	return nil
}

// refuse sends the CONNACK refusing cl and returns the code, which makes
// mochi close the connection.
func (h *hook) refuse(cl *mqtt.Client, code packets.Code) error {
	if err := h.server.SendConnack(cl, code, false, nil); err != nil {
		h.log.Debug("send mqtt connack", "err", err)
	}
	return code
}

// OnConnectAuthenticate implements mqtt.Hook: an account's password, or
// the meter password derived from the DRN, compared in constant time.
func (h *hook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	user := string(pk.Connect.Username)
	if h.authenticate(user, pk.Connect.Password) {
		return true
	}
	h.stats.authFailures.Add(1)
	if _, isAccount := h.accounts[user]; isAccount && h.refusals != nil {
		// A service's account refused is a misconfiguration worth a
		// line; a meter's (a fraud attempt, a brute force) is counted.
		if ok, held := h.refusals.Allow(user); ok {
			h.log.Warn("refused an account: wrong password", "user", user,
				"remote", cl.Net.Remote, "suppressed", held)
		}
		return false
	}
	h.log.Debug("mqtt connect refused: credentials", "user", user)
	return false
}

func (h *hook) authenticate(user string, password []byte) bool {
	if a, ok := h.accounts[user]; ok {
		got := sha256.Sum256(password)
		return subtle.ConstantTimeCompare(got[:], a.hash[:]) == 1
	}
	if sts.ValidateDRN(user) != nil {
		return false
	}
	want := MeterPassword(h.secret, user)
	return subtle.ConstantTimeCompare(password, []byte(want)) == 1
}

// OnSessionEstablish implements mqtt.Hook; mochi calls it before sending
// the CONNACK, so a client that sees its connection accepted is counted.
func (h *hook) OnSessionEstablish(*mqtt.Client, packets.Packet) {
	h.stats.connects.Add(1)
}

// OnACLCheck implements mqtt.Hook for reading: subscriptions and each
// delivery. Publishing is decided in OnPublish.
//
// mochi disconnects an MQTT 3.1.1 client whose QoS 1 publish is refused
// here. The client would reconnect and send the stored message again, and
// again, so refusing publishes in OnPublish instead lets them be
// acknowledged and dropped, as mosquitto does.
func (h *hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if write {
		return true
	}
	return maySubscribe(h.identityOf(cl), topic)
}

// OnSubscribe implements mqtt.Hook: it counts the filters OnACLCheck is
// about to refuse (the SUBACK carries 0x80 for each).
func (h *hook) OnSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	id := h.identityOf(cl)
	for _, sub := range pk.Filters {
		if !maySubscribe(id, sub.Filter) {
			h.stats.subscribeRefusals.Add(1)
			h.log.Debug("mqtt subscribe refused",
				"user", string(cl.Properties.Username), "topic", sub.Filter)
		}
	}
	return pk
}

// OnPublish implements mqtt.Hook: a refused publish is acknowledged (at
// QoS 1) but neither retained nor delivered.
func (h *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	id := h.identityOf(cl)
	if mayPublish(id, pk.TopicName, pk.FixedHeader.Retain) {
		return pk, nil
	}
	h.stats.publishRefusals.Add(1)
	h.log.Debug("mqtt publish refused",
		"user", string(cl.Properties.Username), "topic", pk.TopicName)
	return pk, packets.CodeSuccessIgnore
}

// OnSelectSubscribers implements mqtt.Hook: it picks the member of each
// shared subscription group that receives a message. [MQTT-4.8.2] leaves
// the choice to the broker; mochi's own takes any member, and a member
// with a persistent session that is away would hold its share until it
// returns. This prefers a connected member, at random, and falls back to
// one that is away only when none is connected.
func (h *hook) OnSelectSubscribers(subs *mqtt.Subscribers, _ packets.Packet) *mqtt.Subscribers {
	subs.SharedSelected = make(map[string]packets.Subscription, len(subs.Shared))
	for _, group := range subs.Shared {
		var (
			pick  string
			sub   packets.Subscription
			found bool
		)
		for id, s := range group {
			if !found {
				pick, sub, found = id, s, true
			}
			if cl, ok := h.server.Clients.Get(id); ok && !cl.Closed() {
				pick, sub = id, s
				break
			}
		}
		if !found {
			continue
		}
		if prev, ok := subs.SharedSelected[pick]; ok {
			sub = prev.Merge(sub)
		}
		subs.SharedSelected[pick] = sub
	}
	return subs
}
