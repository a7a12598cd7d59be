package stack

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stsfleet/stsfleet/fleet"
	"github.com/stsfleet/stsfleet/simclock"
)

// TestStatusPage runs the all-in-one with analytics and reads the status
// page at the fleet's address: every part's totals and the four charts.
func TestStatusPage(t *testing.T) {
	ctx := context.Background()
	s, err := Start(ctx, Config{
		Meters: 20, Seed: 6, Clock: simclock.New(time.Now(), 40_000),
		DBPath:            filepath.Join(t.TempDir(), "ledger.db"),
		AnalyticsPassword: "analytics-password", Analytics: NATSAnalytics("", nil),
		Fleet: fleet.Config{Step: time.Hour},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}()
	if _, err := s.Run(ctx, RunConfig{SimDuration: 6 * time.Hour}); err != nil {
		t.Fatal(err)
	}

	resp, err := http.Get(s.Addrs().Fleet + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %s", resp.Status)
	}
	page := string(body)
	for _, want := range []string{
		`<div class="label">Meters</div>` + "\n" + `<div class="value">20</div>`,
		"<title>Vends per second</title>", "<title>Electricity</title>",
		"<title>Token results by outcome</title>", "<title>Fraud attempts by kind</title>",
		`<div class="label">ACL refusals</div>`, "<td>electricity</td>",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the status page lacks %q", want)
		}
	}
}
