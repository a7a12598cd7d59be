// Package deploy holds the container deployment of the product: the
// Dockerfile that builds the four binaries into one image, the script that
// makes a deployment's secrets and fleet, and the Prometheus and Grafana
// configuration that docker-compose.yml at the repository root mounts.
//
// It has no code. Its tests load docker-compose.yml with compose-go and
// check it statically against the repository, since no container engine is
// needed for that: every file mounted exists, every flag and port a service
// uses is one its binary defines (from the built binary's own --help),
// every path a command names lies in a mounted volume, and Prometheus
// scrapes every component where it listens.
//
// The observability files are checked the same way and against a running
// product: the Grafana dashboards (grafana/dashboards) as JSON, each panel
// on the dashboard's datasource variable with a query; the Prometheus
// rules (prometheus/rules) with promtool, syntax and unit tests
// (prometheus/tests); and, where Debian's prometheus is installed, a real
// Prometheus on loopback scraping `fleet run --serve` of a short fraud
// scenario (testdata/fraud.yaml) every second, through which every panel
// query and every recording rule must return a series.
package deploy
