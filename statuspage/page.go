package statuspage

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults applied by [New] to zero [Config] fields.
const (
	// DefaultInterval is the time between samples.
	DefaultInterval = 2 * time.Second
	// DefaultHistory is the number of samples kept: ten minutes at the
	// default interval.
	DefaultHistory = 300
	// DefaultRefresh is how often the page reloads itself.
	DefaultRefresh = 5 * time.Second
)

// Config describes a status page.
type Config struct {
	// Gatherer is read at every sample: the metrics of the parts the
	// page shows. Required.
	Gatherer prometheus.Gatherer
	// Title heads the page. Empty means "stsfleet".
	Title string
	// Interval is the wall time between samples. Zero means
	// [DefaultInterval].
	Interval time.Duration
	// History is the number of samples the ring keeps. Zero means
	// [DefaultHistory].
	History int
	// Refresh is how often the page reloads itself in the browser. Zero
	// means [DefaultRefresh].
	Refresh time.Duration
	// Now is the wall clock. Nil means time.Now.
	Now func() time.Time
	// Logger receives a warning when gathering fails, at most once a
	// minute. Nil discards it.
	Logger *slog.Logger
}

// Page is a status page over a gatherer. Create it with [New], run
// [Page.Run] to fill its history, and serve it as an http.Handler.
type Page struct {
	cfg Config
	log *slog.Logger

	// mu guards the ring and the time of the last warning.
	mu sync.Mutex
	// ring holds the samples, oldest at next once full.
	ring     []sample
	next     int
	full     bool
	warnedAt time.Time
}

// New returns a page over cfg.Gatherer with cfg's defaults applied.
func New(cfg Config) (*Page, error) {
	if cfg.Gatherer == nil {
		return nil, errors.New("new status page: no gatherer")
	}
	if cfg.Title == "" {
		cfg.Title = "stsfleet"
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.History <= 1 {
		cfg.History = DefaultHistory
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = DefaultRefresh
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Page{cfg: cfg, log: log, ring: make([]sample, cfg.History)}, nil
}

// Run samples the gatherer at once and then every Interval until ctx ends,
// and returns nil then.
func (p *Page) Run(ctx context.Context) error {
	p.Sample()
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			p.Sample()
		}
	}
}

// Sample reads the gatherer now and adds the reading to the history. A
// gathering error is logged and the partial reading kept: one failing
// part does not blank the page.
func (p *Page) Sample() {
	now := p.cfg.Now()
	mfs, err := p.cfg.Gatherer.Gather()
	s := read(mfs, now)

	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil && now.Sub(p.warnedAt) >= time.Minute {
		p.warnedAt = now
		p.log.Warn("status page: gather metrics", "err", err)
	}
	p.ring[p.next] = s
	p.next = (p.next + 1) % len(p.ring)
	if p.next == 0 {
		p.full = true
	}
}

// history returns a copy of the samples, oldest first.
func (p *Page) history() []sample {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.full {
		return append([]sample(nil), p.ring[:p.next]...)
	}
	out := make([]sample, 0, len(p.ring))
	out = append(out, p.ring[p.next:]...)
	return append(out, p.ring[:p.next]...)
}

// ServeHTTP implements http.Handler: the page. The totals are read at the
// request; the charts are drawn from the history. With no sample yet it
// takes one first.
func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := p.history()
	if len(h) == 0 {
		p.Sample()
		h = p.history()
	}
	// A failed gather was logged by Sample; the page shows what it got.
	mfs, _ := p.cfg.Gatherer.Gather()
	now := read(mfs, p.cfg.Now())
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, p.view(h, now)); err != nil {
		p.log.Error("status page: render", "err", err)
		http.Error(w, "render status page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b.Bytes())
}
