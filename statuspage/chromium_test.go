package statuspage

import (
	"bytes"
	"context"
	"flag"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

var screenshot = flag.String("screenshot", "",
	"write the headless Chromium screenshot of the status page to this file")

// chromiumFlags keep a headless Chromium to itself: no sandbox (the tests
// may run as root), no GPU, and none of its background traffic.
var chromiumFlags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
	"--disable-component-update", "--no-first-run", "--disable-sync",
	"--disable-default-apps", "--disable-extensions", "--no-default-browser-check",
	"--hide-scrollbars",
}

// chromium runs a headless Chromium with a fresh profile and returns what
// it prints; it skips the test where Debian's chromium is not installed.
func chromium(t *testing.T, args ...string) []byte {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (Debian package chromium): status page not " +
			"checked in a browser")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	full := append(append([]string{}, chromiumFlags...),
		"--user-data-dir="+filepath.Join(t.TempDir(), "profile"))
	cmd := exec.CommandContext(ctx, bin, append(full, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.Bytes())
	}
	return out
}

// TestStatusPageInChromium loads the page in a real browser and checks
// that its charts are there once the browser has parsed it: an SVG per
// chart, with drawn lines and bars. It also takes a screenshot (see
// -screenshot).
func TestStatusPageInChromium(t *testing.T) {
	p := newParts(t, true)
	page, clock := newTestPage(t, p, "stsfleet")
	fill(page, clock, p, 5, 12)
	srv := httptest.NewServer(page)
	defer srv.Close()

	dom := chromium(t, "--dump-dom", srv.URL+"/")
	for _, c := range []struct {
		what    string
		pattern string
		atLeast int
	}{
		{"charts", `<svg class="chart"`, 4},
		{"drawn lines", `<path class="line" stroke="#[0-9a-f]{6}" d="M[0-9.]+ [0-9.]+ L`, 2},
		{"bars", `<rect class="bar"`, 4},
		{"tiles", `<div class="tile`, 6},
	} {
		if n := len(regexp.MustCompile(c.pattern).FindAll(dom, -1)); n < c.atLeast {
			t.Errorf("the browser's DOM has %d %s, want at least %d", n, c.what, c.atLeast)
		}
	}

	shot := *screenshot
	if shot == "" {
		shot = filepath.Join(t.TempDir(), "status-page.png")
	} else if abs, err := filepath.Abs(shot); err == nil {
		shot = abs
	}
	chromium(t, "--screenshot="+shot, "--window-size=1280,1000", srv.URL+"/")
	png, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 10_000 {
		t.Errorf("screenshot %s: %d bytes, not a rendered PNG", shot, len(png))
	}
}
