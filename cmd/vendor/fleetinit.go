package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/stsfleet/stsfleet/protocol/sts"
	"github.com/stsfleet/stsfleet/vending"
)

// fleetInitConfig is what vendor fleet init takes from its flags.
type fleetInitConfig struct {
	// Meters is the number of meters; required.
	Meters int
	// Mix and Profiles are name=weight lists; empty means the defaults.
	Mix, Profiles string
	// Seed makes the definition reproducible.
	Seed uint64
	// Out is the directory the three files go to.
	Out string
	// Force overwrites existing files.
	Force bool
	// MfrCode, SGC, TI, KEN and BaseDate are given to every meter; zero
	// values mean the package defaults.
	MfrCode  uint16
	SGC      string
	TI       uint8
	KEN      uint8
	BaseDate string
}

// newFleetCmd returns the fleet command group.
func newFleetCmd(e env) *cobra.Command {
	return newGroup("fleet", "Fleet definitions and their keys", newFleetInitCmd(e))
}

func newFleetInitCmd(e env) *cobra.Command {
	var cfg fleetInitConfig
	cmd := &cobra.Command{
		Use:   "init --meters N",
		Short: "Write a fleet definition, a vending key store and the decoder key injection",
		Long: "init generates a fleet as a utility and its manufacturer would hold it, into\n" +
			"--out: fleet.json (the definition: DRNs, utilities, key identities,\n" +
			"tariffs; no key), vending-keys.json (one fresh random vending key per DKGA,\n" +
			"mode 0600: the vendor's secret) and injection.json (every meter's decoder\n" +
			"key, mode 0600: what the factory loads, so the fleet never needs the\n" +
			"vending key). The same --seed gives the same DRNs and mix; the keys are new\n" +
			"every time. Existing files are kept unless --force.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runFleetInit(cfg, e, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Meters, "meters", 0, "number of meters (required)")
	f.StringVar(&cfg.Mix, "mix", "", "utility weights, such as electricity=80,water=15,gas=5 "+
		"(the default)")
	f.StringVar(&cfg.Profiles, "profiles", "", "key weights, such as "+
		"ea07-dkga02=70,ea11-dkga04=30 (the default); ea07-dkga04 is also offered")
	f.Uint64Var(&cfg.Seed, "seed", 1, "seed of the DRNs and the mix")
	f.StringVar(&cfg.Out, "out", ".", "directory of the files")
	f.BoolVar(&cfg.Force, "force", false, "overwrite existing files (orphans meters made "+
		"with the old keys)")
	f.Uint16Var(&cfg.MfrCode, "mfr-code", vending.DefaultMfrCode,
		"manufacturer code: 2 digits give 11-digit DRNs, 4 digits 13-digit ones")
	f.StringVar(&cfg.SGC, "sgc", vending.DefaultSGC, "supply group code, 6 digits")
	f.Uint8Var(&cfg.TI, "tariff-index", 0, "tariff index of the keys, 0 to 99")
	f.Uint8Var(&cfg.KEN, "ken", 255, "key expiry number; 255 never expires")
	f.StringVar(&cfg.BaseDate, "base-date", "2014", "base date of the TIDs: 1993, 2014 or 2035")
	return cmd
}

// runFleetInit generates the fleet and writes its files. It prints the
// paths and the mix, never a key.
func runFleetInit(cfg fleetInitConfig, e env, stdout io.Writer) error {
	fc, err := cfg.fleetConfig()
	if err != nil {
		return err
	}
	fc.Random = e.random
	fl, err := vending.NewFleet(fc)
	if err != nil {
		return err
	}
	paths, err := fl.Write(cfg.Out, cfg.Force)
	if err != nil {
		return err
	}
	utilities := map[vending.Utility]int{}
	profiles := map[string]int{}
	for _, m := range fl.Definition.Meters {
		utilities[m.Utility]++
		profiles["EA"+m.EA.String()+"/DKGA"+m.DKGA.String()]++
	}
	fmt.Fprintf(stdout, "meters      %d\n", len(fl.Definition.Meters))
	for _, u := range vending.Utilities {
		if n := utilities[u]; n > 0 {
			fmt.Fprintf(stdout, "%-11s %d\n", u, n)
		}
	}
	names := make([]string, 0, len(profiles))
	for p := range profiles {
		names = append(names, p)
	}
	slices.Sort(names)
	for _, p := range names {
		fmt.Fprintf(stdout, "%-11s %d\n", p, profiles[p])
	}
	for i, label := range []string{"definition", "key store", "injection"} {
		fmt.Fprintf(stdout, "%-11s %s\n", label, paths[i])
	}
	return nil
}

// fleetConfig checks the flags; errors name the flag.
func (cfg fleetInitConfig) fleetConfig() (vending.FleetConfig, error) {
	fc := vending.FleetConfig{Meters: cfg.Meters, Seed: cfg.Seed, MfrCode: cfg.MfrCode,
		SGC: cfg.SGC, TI: cfg.TI, KEN: cfg.KEN}
	if cfg.Meters < 1 {
		return fc, fmt.Errorf("--meters %d: want at least 1", cfg.Meters)
	}
	if cfg.Mix != "" {
		mix, err := vending.ParseMix(cfg.Mix)
		if err != nil {
			return fc, fmt.Errorf("--mix: %w", err)
		}
		fc.Mix = mix
	}
	if cfg.Profiles != "" {
		p, err := vending.ParseProfiles(cfg.Profiles)
		if err != nil {
			return fc, fmt.Errorf("--profiles: %w", err)
		}
		fc.Profiles = p
	}
	if cfg.MfrCode > 9999 {
		return fc, fmt.Errorf("--mfr-code %d: want 2 or 4 digits", cfg.MfrCode)
	}
	if _, err := strconv.Atoi(cfg.SGC); err != nil || len(cfg.SGC) != 6 {
		return fc, fmt.Errorf("--sgc %q: want 6 digits", cfg.SGC)
	}
	if cfg.TI > 99 {
		return fc, fmt.Errorf("--tariff-index %d: want 0 to 99", cfg.TI)
	}
	b, err := sts.ParseBaseDate(cfg.BaseDate)
	if err != nil {
		return fc, fmt.Errorf("--base-date: %w", err)
	}
	fc.BaseDate = b
	if cfg.KEN == 0 {
		// FleetConfig reads KEN 0 as "never expires"; a fleet whose keys
		// expire 45 days after the base date is not worth generating.
		return fc, fmt.Errorf("--ken 0: every token would be past the key's expiry; " +
			"want 1 to 255")
	}
	return fc, nil
}
