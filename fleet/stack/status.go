package stack

import (
	"context"
	"net/http"

	"github.com/stsfleet/stsfleet/statuspage"
)

// statusPage returns the status page over every part's metrics, served at
// / beside the fleet's API and /metrics.
func (s *Stack) statusPage() (*statuspage.Page, error) {
	return statuspage.New(statuspage.Config{Gatherer: s.gatherers, Title: "stsfleet",
		Logger: s.log.With("component", "status")})
}

// runStatusPage samples the page until srv, the server it is served by,
// shuts down; the stack's group waits for it.
func (s *Stack) runStatusPage(page *statuspage.Page, srv *http.Server) {
	ctx, cancel := context.WithCancel(context.Background())
	srv.RegisterOnShutdown(cancel)
	s.group.Add(1)
	go func() {
		defer s.group.Done()
		page.Run(ctx)
	}()
}
