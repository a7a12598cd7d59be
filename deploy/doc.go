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
package deploy
