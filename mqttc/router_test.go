package mqttc

import "testing"

func TestMatches(t *testing.T) {
	tests := []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/b", "a/b/c", false},
		{"a/+", "a/b", true},
		{"a/+", "a", false},
		{"a/+", "a/", true},
		{"a/+", "a/b/c", false},
		{"+/+", "/x", true},
		{"+", "a", true},
		{"+", "a/b", false},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"a/#", "ab", false},
		{"#", "a/b", true},
		{"#", "$SYS/x", false},
		{"+/x", "$SYS/x", false},
		{"$SYS/#", "$SYS/x", true},
		{"sts/v1/meters/+/token", "sts/v1/meters/04000000010/token", true},
		{"sts/v1/meters/+/token", "sts/v1/meters/04000000010/result", false},
	}
	for _, tt := range tests {
		t.Run(tt.filter+" "+tt.topic, func(t *testing.T) {
			if got := matches(tt.filter, tt.topic); got != tt.want {
				t.Errorf("matches(%q, %q) = %v, want %v", tt.filter, tt.topic, got, tt.want)
			}
		})
	}
}

func TestUnshared(t *testing.T) {
	tests := []struct{ filter, want string }{
		{"$share/vendors/sts/v1/meters/+/result", "sts/v1/meters/+/result"},
		{"sts/v1/meters/+/result", "sts/v1/meters/+/result"},
		{"$share/nogroup", "$share/nogroup"},
	}
	for _, tt := range tests {
		if got := unshared(tt.filter); got != tt.want {
			t.Errorf("unshared(%q) = %q, want %q", tt.filter, got, tt.want)
		}
	}
}

func TestRouterDispatch(t *testing.T) {
	r := newRouter()
	var got []string
	handler := func(name string) Handler { return func(Message) { got = append(got, name) } }
	r.add("a/+", handler("plus"))
	r.add("$share/g/a/b", handler("shared"))
	old := r.add("x/#", handler("x1"))
	if old != nil {
		t.Fatal("add returned a handler for a new filter")
	}
	old = r.add("x/#", handler("x2"))

	if !r.dispatch(Message{Topic: "a/b"}) || len(got) != 2 {
		t.Errorf("a/b reached %v, want plus and shared", got)
	}
	got = nil
	r.dispatch(Message{Topic: "x/y"})
	if len(got) != 1 || got[0] != "x2" {
		t.Errorf("x/y reached %v, want the replacing handler x2", got)
	}
	got = nil
	r.restore("x/#", old)
	r.dispatch(Message{Topic: "x/y"})
	if len(got) != 1 || got[0] != "x1" {
		t.Errorf("x/y after restore reached %v, want x1", got)
	}
	r.remove("x/#")
	if r.dispatch(Message{Topic: "x/y"}) {
		t.Error("a removed route still handles messages")
	}
}
