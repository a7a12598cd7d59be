package scenarios

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/stsfleet/stsfleet/broker"
	"github.com/stsfleet/stsfleet/fleet"
	"github.com/stsfleet/stsfleet/fleet/stack"
	"github.com/stsfleet/stsfleet/meter"
	"github.com/stsfleet/stsfleet/mqttc"
	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/protocol/wire"
	"github.com/stsfleet/stsfleet/simclock"
	"github.com/stsfleet/stsfleet/vending"
)

// StackConfig says where a [Stack] finds its parts. The zero value embeds
// everything: a broker on the in-memory transport, a vending service with
// its ledger in a temporary directory and its API on a loopback port.
type StackConfig struct {
	// BrokerURL, when set, is an external MQTT broker (tcp://host:port)
	// instead of the embedded one. FleetSecret (the secret the broker
	// derives meters' passwords from) and an account with the vendor
	// role (Username, Password) are then required.
	BrokerURL          string
	FleetSecret        []byte
	Username, Password string
	// VendorURL, when set, is an external vending service's API
	// (http://host:port) instead of the embedded one, with its bearer
	// token. The scenario's fleet is registered with it first.
	VendorURL, VendorToken string
	// Dir holds the ledger and the meters' state; empty means a fresh
	// temporary directory, removed at Close.
	Dir string
	// Registerer receives the metrics of the embedded parts and of the
	// fleet (the fleet a scenario restarts takes its predecessor's
	// place); nil keeps none.
	Registerer prometheus.Registerer
	// Analytics, when set with the embedded broker, starts analytics
	// beside it on an account of its own, fed the vendor's vend events
	// (see observe.go). Nil runs none.
	Analytics AnalyticsStarter
	// Logger receives the parts' logs; nil discards them.
	Logger *slog.Logger
}

// Stack is a running product for one scenario: broker, vendor and the
// scenario's own fleet, each embedded or external. It implements
// [System]. Its methods are safe for concurrent use.
type Stack struct {
	cfg    StackConfig
	log    *slog.Logger
	clock  *simclock.Clock
	def    *vending.Definition
	inj    vending.Injection
	infos  []MeterInfo
	fcfg   fleet.Config
	api    *vendorAPI
	secret []byte
	dir    string
	ownDir bool

	broker  *broker.Broker
	vendor  *vending.Service
	vclient *mqttc.Client
	http    *http.Server
	// client is the scenario's own vendor-role client: it observes
	// results and republishes tokens.
	client *mqttc.Client
	group  *errgroup.Group
	cancel context.CancelFunc

	// analytics runs when StackConfig.Analytics is set; nil otherwise.
	analytics         stack.Analytics
	analyticsPassword string
	// fleetReg lets each fleet the scenario starts register its metrics.
	fleetReg *swapRegisterer

	closeOnce sync.Once
	closeErr  error

	// mu guards the fields below.
	mu       sync.Mutex
	fleet    *fleet.Fleet
	onResult func(Result)
}

// Accounts of the embedded broker.
const (
	vendorUser   = "vendor"
	scenarioUser = "scenario"
)

// NewStack starts the parts for sc: the embedded broker and vendor unless
// cfg names external ones, then the fleet, connected. Close it.
func NewStack(ctx context.Context, sc *Scenario, cfg StackConfig) (s *Stack, err error) {
	s = &Stack{cfg: cfg, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	defer func() {
		if err != nil {
			s.Close(context.WithoutCancel(ctx))
			s = nil
		}
	}()
	if err := s.prepare(sc); err != nil {
		return s, err
	}
	var gctx context.Context
	gctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.group, gctx = errgroup.WithContext(gctx)
	if err := s.startBroker(ctx); err != nil {
		return s, err
	}
	if err := s.startAnalytics(ctx); err != nil {
		return s, err
	}
	if err := s.startVendor(ctx, gctx); err != nil {
		return s, err
	}
	if err := s.startClient(ctx); err != nil {
		return s, err
	}
	if err := s.meters(ctx, sc); err != nil {
		return s, err
	}
	return s, s.StartFleet(ctx)
}

// prepare makes the directory, the clock and the fleet definition.
func (s *Stack) prepare(sc *Scenario) error {
	s.dir = s.cfg.Dir
	if s.dir == "" {
		d, err := os.MkdirTemp("", "stsfleet-scenario-*")
		if err != nil {
			return fmt.Errorf("start scenario: %w", err)
		}
		s.dir, s.ownDir = d, true
	}
	s.clock = &simclock.Clock{Start: sc.Fleet.Start, Speed: sc.Speed, Epoch: time.Now()}
	seed := sc.Fleet.Seed
	if s.cfg.VendorURL != "" {
		// An external vendor keeps its meters: each run registers its own.
		var b [8]byte
		rand.Read(b[:])
		seed ^= uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40
	}
	def, err := definition(&sc.Fleet, seed)
	if err != nil {
		return fmt.Errorf("start scenario: %w", err)
	}
	s.def = def
	return nil
}

func (s *Stack) startBroker(ctx context.Context) error {
	if s.cfg.BrokerURL != "" {
		if len(s.cfg.FleetSecret) < broker.MinFleetSecret || s.cfg.Username == "" {
			return errors.New("start scenario: an external broker needs the fleet secret " +
				"and a vendor account")
		}
		s.secret = s.cfg.FleetSecret
		return nil
	}
	s.secret = randomBytes(32)
	s.cfg.Username, s.cfg.Password = scenarioUser, hex.EncodeToString(randomBytes(16))
	b, err := broker.New(broker.Config{
		DisableTCP:  true,
		FleetSecret: s.secret,
		Accounts: append([]broker.Account{
			{Username: vendorUser, Password: hex.EncodeToString(s.secret[:8]),
				Role: broker.RoleVendor},
			{Username: scenarioUser, Password: s.cfg.Password, Role: broker.RoleVendor},
		}, s.analyticsAccount()...),
		Logger:     s.log,
		Registerer: s.cfg.Registerer,
	})
	if err != nil {
		return fmt.Errorf("start scenario: %w", err)
	}
	if err := b.Start(ctx); err != nil {
		return fmt.Errorf("start scenario: %w", err)
	}
	s.broker = b
	return nil
}

// mqttOptions are the options of a client of the scenario's broker.
func (s *Stack) mqttOptions(id, user, password string) mqttc.Options {
	o := mqttc.Options{ClientID: id, Username: user, Password: password, CleanSession: true,
		Logger: s.log}
	if s.broker != nil {
		o.Dialer = s.broker.Dial
	} else {
		o.Broker = s.cfg.BrokerURL
	}
	return o
}

func (s *Stack) startVendor(ctx, gctx context.Context) error {
	if s.cfg.VendorURL != "" {
		s.api = newVendorAPI(s.cfg.VendorURL, s.cfg.VendorToken)
		inj, err := s.api.register(ctx, s.def)
		if err != nil {
			return err
		}
		s.inj = inj
		return nil
	}
	keys, err := vending.NewKeyStore(seededReader(s.def, 0x6b657973), sts.DKGA02, sts.DKGA04)
	if err != nil {
		return fmt.Errorf("start scenario: %w", err)
	}
	if s.inj, err = vending.BuildInjection(s.def, keys); err != nil {
		return fmt.Errorf("start scenario: %w", err)
	}
	user, password := vendorUser, hex.EncodeToString(s.secret[:8])
	if s.broker == nil {
		// The account given for the external broker serves the vendor too.
		user, password = s.cfg.Username, s.cfg.Password
	}
	opts := s.mqttOptions("scenario-vendor-"+hex.EncodeToString(randomBytes(4)), user,
		password)
	var svc *vending.Service
	ready := make(chan struct{})
	opts.Subscriptions = []mqttc.Subscription{{Filter: wire.SharedResultFilter, QoS: 1,
		Handler: func(m mqttc.Message) {
			<-ready
			if drn, _, err := wire.ParseTopic(m.Topic); err == nil {
				svc.HandleResult(drn, m.Payload)
			}
		}}}
	if s.vclient, err = mqttc.Connect(ctx, opts); err != nil {
		return fmt.Errorf("start scenario: vendor: %w", err)
	}
	token := hex.EncodeToString(randomBytes(16))
	svc, err = vending.New(ctx, vending.Config{
		Definition: s.def, Keys: keys, DBPath: filepath.Join(s.dir, "ledger.db"),
		Publisher: s.vclient, Clock: s.clock, Logger: s.log, Registry: s.cfg.Registerer,
		APIToken: token, Events: s.events(),
		// Redelivery waits past any scenario's steps: a scenario that wants
		// a second copy of a token asks for it.
		Delivery: vending.DeliveryConfig{InitialBackoff: 2 * time.Minute, MaxAttempts: 3},
	})
	close(ready)
	if err != nil {
		return fmt.Errorf("start scenario: %w", err)
	}
	s.vendor = svc
	s.group.Go(func() error { return svc.Run(gctx) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("start scenario: vendor api: %w", err)
	}
	s.http = &http.Server{Handler: svc.Handler(), ReadHeaderTimeout: 10 * time.Second}
	s.group.Go(func() error {
		if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	s.api = newVendorAPI("http://"+ln.Addr().String(), token)
	return nil
}

// startClient connects the scenario's own client, which sees every result.
func (s *Stack) startClient(ctx context.Context) error {
	opts := s.mqttOptions("scenario-"+hex.EncodeToString(randomBytes(4)), s.cfg.Username,
		s.cfg.Password)
	opts.Subscriptions = []mqttc.Subscription{{Filter: wire.TopicFilter(wire.KindResult),
		QoS: 1, Handler: s.handleResult}}
	c, err := mqttc.Connect(ctx, opts)
	if err != nil {
		return fmt.Errorf("start scenario: observer: %w", err)
	}
	s.client = c
	return nil
}

func (s *Stack) handleResult(m mqttc.Message) {
	drn, _, err := wire.ParseTopic(m.Topic)
	if err != nil {
		return
	}
	msg, err := wire.DecodeResult(m.Payload)
	if err != nil {
		return
	}
	res, err := resultOf(drn, msg)
	if err != nil {
		return
	}
	s.mu.Lock()
	h := s.onResult
	s.mu.Unlock()
	if h != nil {
		h(res)
	}
}

// meters builds the meter list and the fleet's configuration.
func (s *Stack) meters(ctx context.Context, sc *Scenario) error {
	tables := sts.SampleTables()
	for _, m := range s.def.Meters {
		k, ok := s.inj[m.DRN]
		if !ok {
			return fmt.Errorf("start scenario: meter %s has no decoder key", m.DRN)
		}
		s.infos = append(s.infos, MeterInfo{DRN: m.DRN, Utility: m.Utility, EA: m.EA,
			KEN: m.KEN, KeyType: m.KT, BaseDate: m.BaseDate, Key: k.Key, Tables: tables})
	}
	load := meter.Load{Kind: sc.Fleet.Load}
	s.fcfg = fleet.Config{
		Definition: s.def, Injection: s.inj, Tables: tables, Clock: s.clock,
		TIDMemory: sc.Fleet.TIDMemory, Lockout: sc.Fleet.Lockout, Load: &load,
		FleetSecret: s.secret,
		Purchases:   fleet.PurchasePolicy{Off: true}, Seed: sc.Fleet.Seed,
		StateDir: filepath.Join(s.dir, "state"), Logger: s.log,
		TelemetryInterval: -1,
	}
	if s.broker != nil {
		s.fcfg.Dialer = s.broker.Dial
	} else {
		s.fcfg.Broker = s.cfg.BrokerURL
	}
	if s.cfg.Registerer != nil {
		s.fleetReg = &swapRegisterer{reg: s.cfg.Registerer}
		s.fcfg.Registerer = s.fleetReg
	}
	return nil
}

// Meters implements [System].
func (s *Stack) Meters() []MeterInfo { return s.infos }

// Clock implements [System].
func (s *Stack) Clock() *simclock.Clock { return s.clock }

// Vend implements [System].
func (s *Stack) Vend(ctx context.Context, req vending.VendRequest) (*vending.VendResponse,
	error) {
	return s.api.Vend(ctx, req)
}

// ChangeKey implements [System].
func (s *Stack) ChangeKey(ctx context.Context, drn string,
	req vending.KeyChangeRequest) (*vending.KeyChangeResponse, error) {
	return s.api.ChangeKey(ctx, drn, req)
}

// VendorMeter implements [System].
func (s *Stack) VendorMeter(ctx context.Context, drn string) (*vending.MeterView, error) {
	return s.api.VendorMeter(ctx, drn)
}

// Summary implements [System].
func (s *Stack) Summary(ctx context.Context) (*vending.Summary, error) {
	return s.api.Summary(ctx)
}

// SetResultHandler implements [System].
func (s *Stack) SetResultHandler(h func(Result)) {
	s.mu.Lock()
	s.onResult = h
	s.mu.Unlock()
}

func (s *Stack) currentFleet() (*fleet.Fleet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fleet == nil {
		return nil, fleet.ErrStopped
	}
	return s.fleet, nil
}

// Type implements [System].
func (s *Stack) Type(ctx context.Context, drn, token string) (Result, error) {
	f, err := s.currentFleet()
	if err != nil {
		return Result{}, err
	}
	r, err := f.Type(ctx, drn, token)
	if err != nil {
		return Result{}, err
	}
	res := Result{DRN: drn, Token: token, Outcome: r.Outcome, Decoded: r.Decoded,
		Class: r.Class, SubClass: r.SubClass, Credited: "0"}
	switch {
	case r.Decoded && r.Class == sts.ClassCredit && meter.IsCurrency(r.SubClass):
		res.Credited = r.Credited.Format(sts.CurrencyScale, 2)
	case r.Credited > 0:
		res.Credited = r.Credited.Format(1, 1)
	}
	return res, nil
}

// SetOnline implements [System].
func (s *Stack) SetOnline(ctx context.Context, drn string, online bool) error {
	f, err := s.currentFleet()
	if err != nil {
		return err
	}
	return f.SetOnline(ctx, drn, online)
}

// StopFleet implements [System].
func (s *Stack) StopFleet(ctx context.Context) error {
	s.mu.Lock()
	f := s.fleet
	s.fleet = nil
	s.mu.Unlock()
	if f == nil {
		return nil
	}
	return f.Shutdown(ctx)
}

// StartFleet implements [System]: a new fleet, restored from the state
// the last one saved.
func (s *Stack) StartFleet(ctx context.Context) error {
	if s.fleetReg != nil {
		s.fleetReg.reset()
	}
	f, err := fleet.New(s.fcfg)
	if err != nil {
		return fmt.Errorf("start fleet: %w", err)
	}
	if err := f.Start(ctx); err != nil {
		f.Shutdown(context.WithoutCancel(ctx))
		return err
	}
	s.mu.Lock()
	s.fleet = f
	s.mu.Unlock()
	return nil
}

// Republish implements [System].
func (s *Stack) Republish(ctx context.Context, drn string, msg wire.TokenMessage) error {
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	return s.client.Publish(ctx, wire.Topic(drn, wire.KindToken), 1, false, b)
}

// Spoof implements [System]: the meter is taken off the network, and a
// client signs in with its credentials, as a thief of them would, and
// publishes to the victim's topics. The broker acknowledges and drops
// what the ACL refuses.
func (s *Stack) Spoof(ctx context.Context, as, victim string, kinds []wire.Kind) error {
	if err := s.SetOnline(ctx, as, false); err != nil {
		return err
	}
	opts := s.mqttOptions(as, as, broker.MeterPassword(s.secret, as))
	opts.CleanSession = false
	opts.NoReconnect = true
	c, err := mqttc.Connect(ctx, opts)
	if err != nil {
		return fmt.Errorf("spoof as %s: %w", as, err)
	}
	var errs []error
	for _, k := range kinds {
		var payload []byte
		switch k {
		case wire.KindToken:
			payload, _ = json.Marshal(wire.TokenMessage{VendID: "spoofed", Attempt: 1,
				Token: "00000000000000000000", IssuedAt: time.Now().UTC(),
				SimTime: s.clock.Now()})
		default:
			payload, _ = json.Marshal(wire.ResultMessage{VendID: "spoofed",
				Token: "00000000000000000000", Outcome: sts.Accept.String(), Credited: "0",
				SimTime: s.clock.Now(), SentAt: time.Now().UTC()})
		}
		errs = append(errs, c.Publish(ctx, wire.Topic(victim, k), 1, false, payload))
	}
	c.Disconnect(100 * time.Millisecond)
	errs = append(errs, s.SetOnline(ctx, as, true))
	return errors.Join(errs...)
}

// ACLRefusals implements [System]: the embedded broker's refused
// publishes and subscriptions. An external broker does not report them.
func (s *Stack) ACLRefusals() (uint64, bool) {
	if s.broker == nil {
		return 0, false
	}
	st := s.broker.Stats()
	return st.PublishRefusals + st.SubscribeRefusals, true
}

// Close stops the fleet, the clients, the vendor and the broker, in that
// order, and removes the temporary directory. It may be called more than
// once.
func (s *Stack) Close(ctx context.Context) error {
	s.closeOnce.Do(func() { s.closeErr = s.close(ctx) })
	return s.closeErr
}

func (s *Stack) close(ctx context.Context) error {
	var errs []error
	errs = append(errs, s.StopFleet(ctx))
	if s.client != nil {
		s.client.Disconnect(100 * time.Millisecond)
	}
	if s.http != nil {
		errs = append(errs, s.http.Shutdown(ctx))
	}
	if s.cancel != nil {
		s.cancel()
		errs = append(errs, s.group.Wait())
	}
	if s.vendor != nil {
		errs = append(errs, s.vendor.Close())
	}
	if s.vclient != nil {
		s.vclient.Disconnect(100 * time.Millisecond)
	}
	if s.analytics != nil {
		errs = append(errs, s.analytics.Shutdown(ctx))
	}
	if s.broker != nil {
		errs = append(errs, s.broker.Shutdown(ctx))
	}
	if s.ownDir && s.dir != "" {
		errs = append(errs, os.RemoveAll(s.dir))
		s.dir = ""
	}
	return errors.Join(errs...)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

var _ System = (*Stack)(nil)
