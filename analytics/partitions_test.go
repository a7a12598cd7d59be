package analytics

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stsfleet/stsfleet/protocol/wire"
)

func TestParsePartitions(t *testing.T) {
	for _, tc := range []struct {
		spec  string
		count int
		want  []int
		canon string
	}{
		{"0-3", 8, []int{0, 1, 2, 3}, "0-3"},
		{"5", 8, []int{5}, "5"},
		{"0-1,4,6-7", 8, []int{0, 1, 4, 6, 7}, "0-1,4,6-7"},
		{"3,1,2,2", 8, []int{1, 2, 3}, "1-3"},
		{"all", 4, []int{0, 1, 2, 3}, "0-3"},
		{"16-31", 0, []int{16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31},
			"16-31"},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			ps, err := ParsePartitions(tc.spec, tc.count)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, ps.List()); diff != "" {
				t.Errorf("partitions (-want +got):\n%s", diff)
			}
			if ps.String() != tc.canon {
				t.Errorf("String = %q, want %q", ps.String(), tc.canon)
			}
			again, err := ParsePartitions(ps.String(), ps.Count())
			if err != nil || !cmp.Equal(again.List(), ps.List()) {
				t.Errorf("canonical form %q does not parse back: %v", ps.String(), err)
			}
		})
	}
}

func TestParsePartitionsErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		spec  string
		count int
	}{
		"empty":          {"", 8},
		"past count":     {"0-8", 8},
		"backwards":      {"5-3", 8},
		"negative":       {"-1", 8},
		"word":           {"some", 8},
		"bad count":      {"0", wire.MaxPartitions + 1},
		"trailing comma": {"1,", 8},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParsePartitions(tc.spec, tc.count); !errors.Is(err, ErrPartitions) {
				t.Errorf("ParsePartitions(%q, %d) error = %v, want ErrPartitions",
					tc.spec, tc.count, err)
			}
		})
	}
}

func TestInstancePartitionsCoverOnce(t *testing.T) {
	for _, tc := range []struct{ n, count int }{{1, 32}, {2, 32}, {3, 32}, {5, 7}, {7, 7}} {
		seen := make([]int, tc.count)
		for i := range tc.n {
			ps, err := InstancePartitions(i, tc.n, tc.count)
			if err != nil {
				t.Fatal(err)
			}
			if ps.Len() == 0 {
				t.Errorf("instance %d/%d of %d owns nothing", i, tc.n, tc.count)
			}
			for _, p := range ps.List() {
				seen[p]++
			}
		}
		for p, k := range seen {
			if k != 1 {
				t.Errorf("%d instances of %d: partition %d owned %d times", tc.n, tc.count, p, k)
			}
		}
	}
	for _, spec := range []string{"2/2", "0/0", "x/2", "1", "-1/2", "0/33"} {
		if _, err := ParseInstance(spec, 32); !errors.Is(err, ErrPartitions) {
			t.Errorf("ParseInstance(%q) error = %v, want ErrPartitions", spec, err)
		}
	}
	ps, err := ParseInstance("1/2", 32)
	if err != nil || ps.String() != "16-31" {
		t.Errorf("ParseInstance(1/2) = %s, %v; want 16-31", ps, err)
	}
}

func TestConsumerName(t *testing.T) {
	a, _ := ParsePartitions("0-15", 32)
	b, _ := ParsePartitions("16-31", 32)
	c, _ := ParsePartitions("0-15", 64)
	odd, _ := ParsePartitions("0,2,4,6,8,10,12,14,16,18,20,22,24,26,28,30", 32)
	names := map[string]bool{}
	for _, ps := range []PartitionSet{a, b, c, odd} {
		n := ps.ConsumerName()
		if err := wire.CheckSubjectToken(n); err != nil {
			t.Errorf("ConsumerName %q: %v", n, err)
		}
		names[n] = true
	}
	if len(names) != 4 {
		t.Errorf("consumer names collide: %v", names)
	}
	if a.ConsumerName() != "analytics-32-p0-15" {
		t.Errorf("ConsumerName = %q", a.ConsumerName())
	}
}

func TestFilters(t *testing.T) {
	ps, _ := ParsePartitions("3,5", 8)
	got := ps.filters([]wire.Channel{wire.ChannelResult, wire.ChannelVend})
	want := []string{"sts.v1.result.3.*", "sts.v1.result.5.*", "sts.v1.vend.3.*", "sts.v1.vend.5.*"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("filters (-want +got):\n%s", diff)
	}
}
