package deploy

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"
)

// root is the repository root, where docker-compose.yml lives.
const root = ".."

// services are the parts the deployment must run.
var services = []string{"broker", "nats", "vendor", "fleet", "analytics", "prometheus", "grafana"}

// thirdParty are the images not built from this repository, with the port
// each listens on by default.
var thirdParty = map[string]uint32{"prom/prometheus": 9090, "grafana/grafana": 3000}

func loadProject(t *testing.T) *types.Project {
	t.Helper()
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(abs, "docker-compose.yml")},
		cli.WithWorkingDirectory(abs), cli.WithName("stsfleet"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("load docker-compose.yml: %v", err)
	}
	return p
}

func imageName(s types.ServiceConfig) string {
	name, _, _ := strings.Cut(s.Image, ":")
	return name
}

// ours reports whether a service runs the image built from deploy/.
func ours(s types.ServiceConfig) bool {
	_, known := thirdParty[imageName(s)]
	return !known
}

func TestComposeHasEveryService(t *testing.T) {
	p := loadProject(t)
	for _, name := range services {
		if _, err := p.GetService(name); err != nil {
			t.Errorf("service %s: %v", name, err)
		}
	}
	images := map[string]bool{}
	for _, s := range p.Services {
		if ours(s) {
			images[s.Image] = true
		}
	}
	if len(images) != 1 {
		t.Errorf("the product's services use images %v, want one", images)
	}
}

func TestMountedFilesExist(t *testing.T) {
	p := loadProject(t)
	for _, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("service %s mounts %s: %v", s.Name, v.Source, err)
			}
		}
		if b := s.Build; b != nil {
			if _, err := os.Stat(filepath.Join(b.Context, b.Dockerfile)); err != nil {
				t.Errorf("service %s builds with %s: %v", s.Name, b.Dockerfile, err)
			}
		}
	}
}

func TestPortsAreLoopbackOnly(t *testing.T) {
	p := loadProject(t)
	for _, s := range p.Services {
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("service %s publishes %d on %q, want 127.0.0.1", s.Name, port.Target,
					port.HostIP)
			}
		}
	}
}

// binaries builds each command of the repository once per test run.
type binaries struct {
	dir string
	mu  sync.Mutex
	// built maps a command name to its binary, or to the build error.
	built map[string]string
	errs  map[string]error
}

func (b *binaries) get(t *testing.T, name string) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(root, "cmd", name)); err != nil {
		t.Skipf("no cmd/%s in this tree yet", name)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if bin, ok := b.built[name]; ok {
		return bin
	}
	if err, ok := b.errs[name]; ok {
		t.Fatal(err)
	}
	bin := filepath.Join(b.dir, name)
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/"+name)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		b.errs[name] = fmt.Errorf("go build ./cmd/%s: %v\n%s", name, err, out)
		t.Fatal(b.errs[name])
	}
	b.built[name] = bin
	return bin
}

// command is one invocation of a product binary: its subcommand path and
// its flags with their values.
type command struct {
	binary string
	path   []string
	flags  map[string][]string
}

func parseCommand(args []string) command {
	c := command{binary: args[0], flags: map[string][]string{}}
	i := 1
	for ; i < len(args) && !strings.HasPrefix(args[i], "-"); i++ {
		c.path = append(c.path, args[i])
	}
	for ; i < len(args); i++ {
		name, value, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if !hasValue && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			value, i = args[i+1], i+1
		}
		c.flags[name] = append(c.flags[name], value)
	}
	return c
}

var flagLine = regexp.MustCompile(`(?m)^\s+(?:-[a-zA-Z], )?--([a-z0-9][a-z0-9-]*)`)

// help runs the command's --help and returns the flags it defines and the
// help text. It fails when the binary has no such subcommand.
func (c command) help(t *testing.T, bin string) (map[string]bool, string) {
	t.Helper()
	out, err := exec.Command(bin, append(slices.Clone(c.path), "--help")...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s --help: %v\n%s", c.binary, strings.Join(c.path, " "), err, out)
	}
	usage := strings.Join(append([]string{c.binary}, c.path...), " ")
	if !strings.Contains(string(out), "\n  "+usage+" ") &&
		!strings.Contains(string(out), "\n  "+usage+"\n") {
		t.Fatalf("%s has no subcommand %q; its help:\n%s", c.binary, usage, out)
	}
	flags := map[string]bool{}
	for _, m := range flagLine.FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = true
	}
	return flags, string(out)
}

// listenPorts returns the ports the command's flag values listen on:
// values of the form host:port.
func (c command) listenPorts() map[uint32]bool {
	ports := map[uint32]bool{}
	for _, values := range c.flags {
		for _, v := range values {
			if strings.Contains(v, "/") {
				continue
			}
			_, p, err := net.SplitHostPort(v)
			if n, perr := strconv.ParseUint(p, 10, 16); err == nil && perr == nil {
				ports[uint32(n)] = true
			}
		}
	}
	return ports
}

// paths returns the container paths the command's flags name: /path and
// @/path values.
func (c command) paths() []string {
	var out []string
	for _, values := range c.flags {
		for _, v := range values {
			v = strings.TrimPrefix(v, "@")
			if strings.HasPrefix(v, "/") {
				out = append(out, v)
			}
		}
	}
	return out
}

func mountOf(s types.ServiceConfig, path string) (types.ServiceVolumeConfig, bool) {
	for _, v := range s.Volumes {
		if path == v.Target || strings.HasPrefix(path, strings.TrimSuffix(v.Target, "/")+"/") {
			return v, true
		}
	}
	return types.ServiceVolumeConfig{}, false
}

// invocations returns the product commands a service runs: its command,
// or the lines of a mounted shell script that call a product binary.
func invocations(t *testing.T, s types.ServiceConfig, known map[string]bool) []command {
	t.Helper()
	if len(s.Command) > 0 {
		return []command{parseCommand(s.Command)}
	}
	if len(s.Entrypoint) != 2 || s.Entrypoint[0] != "sh" {
		return nil
	}
	v, ok := mountOf(s, s.Entrypoint[1])
	if !ok || v.Type != types.VolumeTypeBind {
		t.Fatalf("service %s runs %s, which is not a mounted file", s.Name, s.Entrypoint[1])
	}
	data, err := os.ReadFile(v.Source)
	if err != nil {
		t.Fatal(err)
	}
	var out []command
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		words := strings.Fields(sc.Text())
		if len(words) > 0 && known[words[0]] {
			var args []string
			for _, w := range words {
				args = append(args, strings.Trim(w, `"`))
			}
			out = append(out, parseCommand(args))
		}
	}
	return out
}

// TestCommandsMatchTheBinaries checks every product command the compose
// file runs against the binary's own command tree: the subcommand exists,
// every flag is one it defines, every published port is one a flag listens
// on, and every path it names lies in a volume the service mounts.
func TestCommandsMatchTheBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries")
	}
	p := loadProject(t)
	bins := &binaries{dir: t.TempDir(), built: map[string]string{}, errs: map[string]error{}}
	known := map[string]bool{}
	entries, err := os.ReadDir(filepath.Join(root, "cmd"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		known[e.Name()] = e.IsDir()
	}
	for _, s := range p.Services {
		if !ours(s) {
			continue
		}
		t.Run(s.Name, func(t *testing.T) {
			cmds := invocations(t, s, known)
			if len(cmds) == 0 {
				t.Fatalf("service %s runs no product command", s.Name)
			}
			listening := map[uint32]bool{}
			for _, c := range cmds {
				defined, _ := c.help(t, bins.get(t, c.binary))
				for name := range c.flags {
					if !defined[name] {
						t.Errorf("%s %s has no flag --%s", c.binary, strings.Join(c.path, " "),
							name)
					}
				}
				for port := range c.listenPorts() {
					listening[port] = true
				}
				for _, path := range c.paths() {
					if _, ok := mountOf(s, path); !ok {
						t.Errorf("--flag value %s lies in no volume of service %s", path, s.Name)
					}
				}
			}
			for _, port := range s.Ports {
				if !listening[port.Target] {
					t.Errorf("service %s publishes %d, which no flag listens on", s.Name,
						port.Target)
				}
			}
		})
	}
}

// TestSharedFilesAreMade checks that every file a service reads from a
// volume it mounts read-only is made by the service that writes that
// volume: named in its script or in the help of a command it runs.
func TestSharedFilesAreMade(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries")
	}
	p := loadProject(t)
	bins := &binaries{dir: t.TempDir(), built: map[string]string{}, errs: map[string]error{}}
	known := map[string]bool{"broker": true, "vendor": true, "fleet": true, "analytics": true}
	// writers maps a named volume to what its writers say about files.
	writers := map[string]string{}
	for _, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeVolume || v.ReadOnly {
				continue
			}
			text := ""
			if len(s.Entrypoint) == 2 {
				if m, ok := mountOf(s, s.Entrypoint[1]); ok {
					data, _ := os.ReadFile(m.Source)
					text += string(data)
				}
				for _, c := range invocations(t, s, known) {
					_, h := c.help(t, bins.get(t, c.binary))
					text += h
				}
			}
			writers[v.Source] += text
		}
	}
	for _, s := range p.Services {
		for _, c := range invocations(t, s, known) {
			for _, path := range c.paths() {
				v, ok := mountOf(s, path)
				if !ok || !v.ReadOnly || v.Type != types.VolumeTypeVolume {
					continue
				}
				if !strings.Contains(writers[v.Source], filepath.Base(path)) {
					t.Errorf("service %s reads %s from volume %s, which nothing writes",
						s.Name, path, v.Source)
				}
			}
		}
	}
}

// TestPrometheusScrapesEveryComponent checks deploy/prometheus/prometheus.yml
// against the services: each target is a service listening on that port,
// and every long-running product service is scraped.
func TestPrometheusScrapesEveryComponent(t *testing.T) {
	p := loadProject(t)
	prom, err := p.GetService("prometheus")
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := ""
	for _, arg := range prom.Command {
		if v, ok := strings.CutPrefix(arg, "--config.file="); ok {
			cfgPath = v
		}
	}
	m, ok := mountOf(prom, cfgPath)
	if !ok || m.Type != types.VolumeTypeBind {
		t.Fatalf("--config.file %q is not a mounted file", cfgPath)
	}
	data, err := os.ReadFile(m.Source)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ScrapeConfigs []struct {
			Job     string `yaml:"job_name"`
			Targets []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	scraped := map[string]bool{}
	for _, job := range cfg.ScrapeConfigs {
		for _, sc := range job.Targets {
			for _, target := range sc.Targets {
				host, port, err := net.SplitHostPort(target)
				if err != nil {
					t.Errorf("job %s: target %q: %v", job.Job, target, err)
					continue
				}
				s, err := p.GetService(host)
				if err != nil {
					t.Errorf("job %s: target %s is no service", job.Job, target)
					continue
				}
				n, _ := strconv.ParseUint(port, 10, 16)
				if !parseCommand(append([]string{"x"}, s.Command...)).listenPorts()[uint32(n)] {
					t.Errorf("job %s: service %s does not listen on %s", job.Job, host, port)
				}
				scraped[host] = true
			}
		}
	}
	for _, s := range p.Services {
		if ours(s) && len(s.Command) > 0 && !scraped[s.Name] {
			t.Errorf("service %s is not scraped", s.Name)
		}
	}
}

func TestGrafanaUsesThePrometheusService(t *testing.T) {
	p := loadProject(t)
	graf, err := p.GetService("grafana")
	if err != nil {
		t.Fatal(err)
	}
	m, ok := mountOf(graf, "/etc/grafana/provisioning/datasources")
	if !ok {
		t.Fatal("grafana has no provisioning mount")
	}
	data, err := os.ReadFile(filepath.Join(m.Source, "datasources", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var ds struct {
		Datasources []struct {
			URL string `yaml:"url"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(data, &ds); err != nil || len(ds.Datasources) != 1 {
		t.Fatalf("datasources: %v %+v", err, ds)
	}
	u, err := url.Parse(ds.Datasources[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	prom, err := p.GetService(u.Hostname())
	if err != nil {
		t.Fatalf("data source %s: %v", u, err)
	}
	if want := thirdParty[imageName(prom)]; strconv.Itoa(int(want)) != u.Port() {
		t.Errorf("data source port %s, the %s image listens on %d", u.Port(), prom.Image, want)
	}
}
