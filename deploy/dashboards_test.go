package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// dashboardDir holds the Grafana dashboards, provisioned from files.
var dashboardDir = filepath.Join("grafana", "dashboards")

// wantDashboards are the dashboards the deployment ships, by uid.
var wantDashboards = []string{"stsfleet-fleet", "stsfleet-vending", "stsfleet-fraud",
	"stsfleet-broker"}

// datasourceRef is how every panel and query names its data source: the
// dashboard's datasource variable, never a fixed uid.
const datasourceRef = "${datasource}"

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type target struct {
	Datasource *dsRef `json:"datasource"`
	Expr       string `json:"expr"`
	RefID      string `json:"refId"`
}

type panel struct {
	ID         int      `json:"id"`
	Type       string   `json:"type"`
	Title      string   `json:"title"`
	Datasource *dsRef   `json:"datasource"`
	Targets    []target `json:"targets"`
	Panels     []panel  `json:"panels"`
	GridPos    struct {
		X, Y, W, H int
	} `json:"gridPos"`
}

type variable struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Query    any    `json:"query"`
	AllValue string `json:"allValue"`
}

type dashboard struct {
	file          string
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

// queries returns every panel of the dashboard with its queries, rows
// flattened.
func (d *dashboard) queries() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			out = append(out, p)
		}
	}
	walk(d.Panels)
	return out
}

func loadDashboards(t *testing.T) []*dashboard {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dashboardDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in %s: %v", dashboardDir, err)
	}
	var out []*dashboard
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(data) {
			t.Fatalf("%s is not valid JSON", f)
		}
		d := &dashboard{file: f}
		if err := json.Unmarshal(data, d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, d)
	}
	return out
}

// TestDashboardsAreWellFormed checks each dashboard as Grafana would read
// it: valid JSON with a uid and title, a datasource variable that every
// panel and query uses, and at least one query in every panel, on a grid
// 24 columns wide.
func TestDashboardsAreWellFormed(t *testing.T) {
	uids := map[string]string{}
	for _, d := range loadDashboards(t) {
		t.Run(filepath.Base(d.file), func(t *testing.T) {
			if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 {
				t.Errorf("uid %q, title %q, schemaVersion %d", d.UID, d.Title, d.SchemaVersion)
			}
			if other, ok := uids[d.UID]; ok {
				t.Errorf("uid %s also in %s", d.UID, other)
			}
			uids[d.UID] = d.file
			hasVar := slices.ContainsFunc(d.Templating.List, func(v variable) bool {
				return v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus"
			})
			if !hasVar {
				t.Error("no datasource variable of type datasource over prometheus")
			}
			ids := map[int]bool{}
			for _, p := range d.queries() {
				if ids[p.ID] {
					t.Errorf("panel id %d twice", p.ID)
				}
				ids[p.ID] = true
				if p.Datasource == nil || p.Datasource.UID != datasourceRef {
					t.Errorf("panel %q: datasource %+v, want uid %s", p.Title, p.Datasource,
						datasourceRef)
				}
				if len(p.Targets) == 0 {
					t.Errorf("panel %q has no query", p.Title)
				}
				for _, tg := range p.Targets {
					if strings.TrimSpace(tg.Expr) == "" || tg.RefID == "" {
						t.Errorf("panel %q: query %q with refId %q", p.Title, tg.Expr, tg.RefID)
					}
					if tg.Datasource != nil && tg.Datasource.UID != datasourceRef {
						t.Errorf("panel %q: query datasource %+v", p.Title, tg.Datasource)
					}
				}
				g := p.GridPos
				if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
					t.Errorf("panel %q: grid position %+v", p.Title, g)
				}
			}
			for _, v := range d.Templating.List {
				if v.Type == "query" && v.AllValue == "" {
					t.Errorf("variable %s has no allValue for All", v.Name)
				}
			}
		})
	}
	for _, uid := range wantDashboards {
		if _, ok := uids[uid]; !ok {
			t.Errorf("no dashboard %s", uid)
		}
	}
}

// TestGrafanaProvisioning checks that Grafana finds the dashboards where
// docker-compose.yml mounts them, and a Prometheus data source.
func TestGrafanaProvisioning(t *testing.T) {
	p := loadProject(t)
	graf, err := p.GetService("grafana")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join("grafana", "provisioning", "dashboards",
		"stsfleet.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var prov struct {
		Providers []struct {
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	if err := yaml.Unmarshal(data, &prov); err != nil || len(prov.Providers) != 1 {
		t.Fatalf("dashboard provisioning: %v %+v", err, prov)
	}
	m, ok := mountOf(graf, prov.Providers[0].Options.Path)
	if !ok {
		t.Fatalf("grafana mounts nothing at %s", prov.Providers[0].Options.Path)
	}
	abs, _ := filepath.Abs(dashboardDir)
	if m.Source != abs {
		t.Errorf("grafana mounts %s at the dashboards' path, want %s", m.Source, abs)
	}

	data, err = os.ReadFile(filepath.Join("grafana", "provisioning", "datasources",
		"prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var ds struct {
		Datasources []struct {
			Type     string `yaml:"type"`
			JSONData struct {
				TimeInterval string `yaml:"timeInterval"`
			} `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(data, &ds); err != nil || len(ds.Datasources) != 1 ||
		ds.Datasources[0].Type != "prometheus" {
		t.Fatalf("datasource provisioning: %v %+v", err, ds)
	}
	if got, want := ds.Datasources[0].JSONData.TimeInterval, scrapeInterval(t); got != want {
		t.Errorf("data source timeInterval %q, Prometheus scrapes every %q", got, want)
	}
}

// scrapeInterval returns the global scrape interval of prometheus.yml.
func scrapeInterval(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Global struct {
			ScrapeInterval string `yaml:"scrape_interval"`
		} `yaml:"global"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg.Global.ScrapeInterval
}
