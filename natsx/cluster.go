package natsx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
)

// Cluster is a set of embedded servers routed to each other on one host:
// the shape of a multi-machine NATS cluster, run on one machine for tests
// and demonstrations.
type Cluster struct {
	// Servers are the nodes, in start order.
	Servers []*Server
}

// StartLocalCluster starts n clustered servers named name-0 to name-(n-1)
// on base.Host (loopback by default), each with a client port of its own
// ([RandomPort] unless base.Port is set, in which case node i takes
// base.Port+i). Route ports are chosen free up front so that every node
// lists every other from the start, as a real deployment's configuration
// would. When base.StoreDir is set, node i stores under base.StoreDir/name-i.
func StartLocalCluster(name string, n int, base Config) (*Cluster, error) {
	if n < 1 {
		return nil, fmt.Errorf("start cluster %s: %d nodes", name, n)
	}
	host := base.Host
	if host == "" {
		host = DefaultHost
	}
	ports, err := freePorts(host, n)
	if err != nil {
		return nil, fmt.Errorf("start cluster %s: %w", name, err)
	}
	routes := make([]string, n)
	for i, p := range ports {
		routes[i] = "nats-route://" + net.JoinHostPort(host, strconv.Itoa(p))
	}

	c := &Cluster{}
	for i := range n {
		cfg := base
		cfg.Host = host
		cfg.Name = name + "-" + strconv.Itoa(i)
		cfg.Port = RandomPort
		if base.Port > 0 {
			cfg.Port = base.Port + i
		}
		if base.StoreDir != "" {
			cfg.StoreDir = filepath.Join(base.StoreDir, cfg.Name)
		}
		cfg.Cluster = &ClusterConfig{Name: name, Port: ports[i], Routes: routes}
		s, err := Start(cfg)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("start cluster %s: %w", name, err),
				c.Shutdown(context.Background()))
		}
		c.Servers = append(c.Servers, s)
	}
	return c, nil
}

// ClientURLs returns every node's client URL, comma-separated, the form
// [ConnectConfig].URL takes.
func (c *Cluster) ClientURLs() string {
	urls := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		urls[i] = s.ClientURL()
	}
	return strings.Join(urls, ",")
}

// Shutdown stops every node, last started first.
func (c *Cluster) Shutdown(ctx context.Context) error {
	var errs []error
	for i := len(c.Servers) - 1; i >= 0; i-- {
		errs = append(errs, c.Servers[i].Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// freePorts finds n ports that are free on host now, holding them all at
// once so that they differ.
func freePorts(host string, n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}
