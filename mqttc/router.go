package mqttc

import (
	"strings"
	"sync"
)

// router hands each received message to the handlers whose filters match
// its topic. paho delivers every message to the client's default handler,
// which is the router, so the client alone decides which handlers exist:
// one is added before its SUBSCRIBE is sent and removed if the broker
// refuses it.
type router struct {
	mu sync.RWMutex
	// routes are keyed by the filter as subscribed, $share prefix and
	// all.
	routes map[string]route
}

type route struct {
	// match is the filter without a $share/{group}/ prefix.
	match   string
	handler Handler
}

func newRouter() *router { return &router{routes: make(map[string]route)} }

// add routes the messages matching filter to h, replacing any handler the
// filter had, and returns the replaced one (nil if none).
func (r *router) add(filter string, h Handler) Handler {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.routes[filter].handler
	r.routes[filter] = route{match: unshared(filter), handler: h}
	return old
}

// restore puts back the handler add replaced, or removes the route.
func (r *router) restore(filter string, old Handler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old == nil {
		delete(r.routes, filter)
		return
	}
	r.routes[filter] = route{match: unshared(filter), handler: old}
}

func (r *router) remove(filter string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.routes, filter)
}

// dispatch calls every handler whose filter matches m's topic and reports
// whether there was one.
func (r *router) dispatch(m Message) bool {
	r.mu.RLock()
	var handlers []Handler
	for _, rt := range r.routes {
		if matches(rt.match, m.Topic) {
			handlers = append(handlers, rt.handler)
		}
	}
	r.mu.RUnlock()
	for _, h := range handlers {
		h(m)
	}
	return len(handlers) > 0
}

// unshared strips the $share/{group}/ prefix of a shared subscription
// ([MQTT-4.8.2]); messages arrive with the plain topic.
func unshared(filter string) string {
	rest, ok := strings.CutPrefix(filter, "$share/")
	if !ok {
		return filter
	}
	if _, f, ok := strings.Cut(rest, "/"); ok {
		return f
	}
	return filter
}

// matches reports whether topic matches the MQTT topic filter
// ([MQTT-4.7.1]): "+" matches one level, a final "#" the parent level and
// any below. Wildcards at the first level do not match topics beginning
// with "$" ([MQTT-4.7.2-1]).
func matches(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") ||
		strings.HasPrefix(filter, "#")) {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" && !fmore {
			return true
		}
		tl, trest, tmore := strings.Cut(topic, "/")
		if fl != "+" && fl != tl {
			return false
		}
		switch {
		case !fmore && !tmore:
			return true
		case !tmore:
			// "a/#" matches "a" too.
			return frest == "#"
		case !fmore:
			return false
		}
		filter, topic = frest, trest
	}
}
