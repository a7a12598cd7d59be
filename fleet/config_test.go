package fleet

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stsfleet/stsfleet/meter"
	"github.com/stsfleet/stsfleet/vending"
)

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Shard
		wantErr bool
	}{
		{"0/1", Shard{0, 1}, false},
		{"1/2", Shard{1, 2}, false},
		{"31/32", Shard{31, 32}, false},
		{"2/2", Shard{}, true},
		{"-1/2", Shard{}, true},
		{"0/0", Shard{}, true},
		{"1/0", Shard{}, true},
		{"0/2000", Shard{}, true},
		{"1", Shard{}, true},
		{"a/b", Shard{}, true},
		{"", Shard{}, true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseShard(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseShard(%q) error %v, want error %v", tc.in, err, tc.wantErr)
			}
			if !tc.wantErr && got != tc.want {
				t.Errorf("ParseShard(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

// Shards of one count split any fleet into disjoint slices that cover it.
func TestShardsPartitionTheFleet(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			counts := make([]int, n)
			for i := range 3000 {
				drn := fmt.Sprintf("%011d", 47000000000+i*7919)
				owners := 0
				for s := range n {
					if (Shard{Index: s, Count: n}).Has(drn) {
						owners++
						counts[s]++
					}
				}
				if owners != 1 {
					t.Fatalf("meter %s is in %d of %d shards", drn, owners, n)
				}
			}
			for s, c := range counts {
				if c < 3000/n/2 {
					t.Errorf("shard %d/%d holds %d of 3000 meters", s, n, c)
				}
			}
		})
	}
	if !(Shard{}).Has("47123456789") {
		t.Error("the zero shard does not hold every meter")
	}
}

func TestParseChoiceAndUnits(t *testing.T) {
	c, err := ParseChoice("100, 200.50,5")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Choice{"100", "200.50", "5"}, c); diff != "" {
		t.Errorf("ParseChoice (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", "10,,20", "1.234", "-5", "ten"} {
		if _, err := ParseChoice(bad); err == nil {
			t.Errorf("ParseChoice(%q) accepted", bad)
		}
	}
	for in, want := range map[string]meter.Milli{"3": 30000, "0.1": 1000, "2.5": 25000} {
		if got, err := ParseUnits(in); err != nil || got != want {
			t.Errorf("ParseUnits(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := ParseUnits("0.00001"); err == nil {
		t.Error("ParseUnits took more decimals than a register holds")
	}
}

// TestMeterConfigCarriesFleetSettings checks that the fleet-wide meter
// settings reach every meter's configuration.
func TestMeterConfigCarriesFleetSettings(t *testing.T) {
	cfg := Config{TIDMemory: 7, Lockout: meter.Lockout{Attempts: 3, Period: 90}}
	def := vending.Meter{DRN: "37194275246", SGC: "123456", KRN: 1, KT: 2, KEN: 255,
		EA: 7, Utility: "electricity"}
	mc, err := cfg.meterConfig(&def, vending.DecoderKey{EA: 7, Key: make([]byte, 8)})
	if err != nil {
		t.Fatal(err)
	}
	if mc.TIDMemory != 7 || mc.Lockout != cfg.Lockout {
		t.Errorf("meter config TIDMemory %d, Lockout %+v; want 7, %+v", mc.TIDMemory,
			mc.Lockout, cfg.Lockout)
	}
}
