package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// Files of the Prometheus configuration.
var (
	rulesFile     = filepath.Join("prometheus", "rules", "stsfleet.rules.yml")
	ruleTestsFile = filepath.Join("prometheus", "tests", "stsfleet_test.yml")
)

// scrapeEvery is the test Prometheus's scrape and evaluation interval.
const scrapeEvery = time.Second

// grafanaVars are what Grafana puts in place of its variables in these
// dashboards, for a test Prometheus scraping every second: $__interval at
// its minimum, the scrape interval; $__rate_interval is
// max($__interval + scrape interval, 4 × scrape interval); a query
// variable with All selected takes its allValue.
var grafanaVars = map[string]string{
	"__rate_interval": "4s",
	"__interval":      "1s",
	"__interval_ms":   "1000",
	"__range":         "1m",
	"utility":         ".*",
}

var grafanaVar = regexp.MustCompile(`\$\{(\w+)\}|\$(\w+)`)

// expand replaces Grafana's variables in a query; it fails on one it does
// not know, so that a new variable cannot go unchecked.
func expand(t *testing.T, expr string) string {
	t.Helper()
	return grafanaVar.ReplaceAllStringFunc(expr, func(m string) string {
		name := strings.Trim(m, "${}")
		v, ok := grafanaVars[name]
		if !ok {
			t.Errorf("query %q uses variable $%s, which the test does not expand", expr, name)
		}
		return v
	})
}

func needTool(t *testing.T, name string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (Debian package prometheus): not run", name)
	}
	return bin
}

// TestRulesPassPromtool runs promtool over the rules: the syntax and
// PromQL check, and the rules' unit tests.
func TestRulesPassPromtool(t *testing.T) {
	promtool := needTool(t, "promtool")
	for _, args := range [][]string{
		{"check", "rules", rulesFile},
		{"test", "rules", ruleTestsFile},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestPrometheusConfigLoadsTheRules checks that prometheus.yml names the
// rules file where docker-compose.yml mounts it.
func TestPrometheusConfigLoadsTheRules(t *testing.T) {
	p := loadProject(t)
	prom, err := p.GetService("prometheus")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join("prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		RuleFiles []string `yaml:"rule_files"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, pattern := range cfg.RuleFiles {
		m, ok := mountOf(prom, pattern)
		if !ok {
			t.Errorf("rule_files %s lies in no volume of prometheus", pattern)
			continue
		}
		rel := strings.TrimPrefix(pattern, strings.TrimSuffix(m.Target, "/")+"/")
		matches, _ := filepath.Glob(filepath.Join(m.Source, rel))
		for _, f := range matches {
			abs, _ := filepath.Abs(rulesFile)
			found = found || f == abs
		}
	}
	if !found {
		t.Errorf("rule_files %v do not load %s", cfg.RuleFiles, rulesFile)
	}
}

// TestQueriesAgainstPrometheus runs `fleet run --serve` of a short fraud
// scenario (testdata/fraud.yaml) and a real Prometheus scraping it every
// second with the rules loaded, and asserts that every panel query of
// every dashboard, its variables expanded as Grafana would, and every
// recording rule returns at least one series through the HTTP API.
func TestQueriesAgainstPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the fleet and runs Prometheus")
	}
	prometheus := needTool(t, "prometheus")
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	fleet := buildFleet(t, dir)
	target := startFleet(t, ctx, fleet)
	api := startPrometheus(t, ctx, prometheus, dir, target)

	// Wait until the story has been told and scraped: the keypad locked,
	// and the rules evaluated on enough samples for every rate.
	records := recordingRules(t)
	ready := append([]string{
		`sum(analytics_fraud_attempts_total{kind="locked_out"}) > 0`,
		`count_over_time(up{job="fleet"}[1m]) >= 10`,
	}, records...)
	deadline := time.Now().Add(90 * time.Second)
	for _, q := range ready {
		for n, err := api.series(ctx, q); n == 0; n, err = api.series(ctx, q) {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s: %d series, %v", q, n, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	queries := 0
	for _, d := range loadDashboards(t) {
		for _, p := range d.queries() {
			for _, tg := range p.Targets {
				queries++
				q := expand(t, tg.Expr)
				n, err := api.series(ctx, q)
				if err != nil || n == 0 {
					t.Errorf("%s, panel %q: %s: %d series, %v", filepath.Base(d.file), p.Title,
						q, n, err)
				}
			}
		}
	}
	for _, r := range records {
		if n, err := api.series(ctx, r); err != nil || n == 0 {
			t.Errorf("recording rule %s: %d series, %v", r, n, err)
		}
	}
	t.Logf("checked %d panel queries and %d recording rules", queries, len(records))
}

// buildFleet builds cmd/fleet into dir.
func buildFleet(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "fleet")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/fleet")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/fleet: %v\n%s", err, out)
	}
	return bin
}

// startFleet runs the fraud scenario with --serve on a free loopback port
// and returns the host:port its metrics are served on. The process is
// killed at the end of the test.
func startFleet(t *testing.T, ctx context.Context, bin string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, "run", filepath.Join("testdata", "fraud.yaml"),
		"--serve", "--http-listen", "127.0.0.1:0", "--log-level", "error")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr := make(chan string, 1)
	var tail tailBuffer
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			tail.add(line)
			if rest, ok := strings.CutPrefix(line, "metrics: http://"); ok {
				select {
				case addr <- strings.TrimSuffix(rest, "/metrics"):
				default:
				}
			}
		}
	}()
	select {
	case a := <-addr:
		return a
	case <-time.After(60 * time.Second):
		t.Fatalf("fleet run --serve printed no metrics address; its stderr:\n%s", tail.String())
	}
	return ""
}

// startPrometheus runs Prometheus on loopback with a fresh storage
// directory, scraping target every second with the rules loaded, and
// returns its API once ready. The process is killed at the end of the test.
func startPrometheus(t *testing.T, ctx context.Context, bin, dir, target string) promAPI {
	t.Helper()
	rules, err := filepath.Abs(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: %[1]s
  evaluation_interval: %[1]s
rule_files: [%[2]q]
scrape_configs:
  - job_name: fleet
    static_configs:
      - targets: [%[3]q]
`, scrapeEvery, rules, target)
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	listen := freeLoopbackAddr(t)
	cmd := exec.CommandContext(ctx, bin, "--config.file="+cfgFile,
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"), "--web.listen-address="+listen,
		"--log.level=warn")
	var tail tailBuffer
	cmd.Stdout, cmd.Stderr = &tail, &tail
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	api := promAPI{base: "http://" + listen}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(api.base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return api
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready: %v\n%s", err, tail.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// freeLoopbackAddr returns a loopback address with a port free a moment
// ago: Prometheus takes an address, not a listener.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// recordingRules returns the names the rules file records.
func recordingRules(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Record string `yaml:"record"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				out = append(out, r.Record)
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no recording rules")
	}
	return out
}

// promAPI queries a Prometheus server's HTTP API.
type promAPI struct{ base string }

// series runs q as Grafana does, a range query, over the last 15 seconds
// at the scrape interval, and returns the number of series in the result.
func (a promAPI) series(ctx context.Context, q string) (int, error) {
	end := time.Now()
	v := url.Values{"query": {q},
		"start": {strconv.FormatInt(end.Add(-15*time.Second).Unix(), 10)},
		"end":   {strconv.FormatInt(end.Unix(), 10)},
		"step":  {strconv.Itoa(int(scrapeEvery / time.Second))}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		a.base+"/api/v1/query_range?"+v.Encode(), nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, fmt.Errorf("query %s: %w", q, err)
	}
	if body.Status != "success" {
		return 0, fmt.Errorf("query %s: %s", q, body.Error)
	}
	return len(body.Data.Result), nil
}

// tailBuffer keeps the last lines a process wrote, for failure messages.
type tailBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *tailBuffer) add(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, line)
	if len(b.lines) > 40 {
		b.lines = b.lines[1:]
	}
}

// Write implements io.Writer.
func (b *tailBuffer) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		b.add(l)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}
