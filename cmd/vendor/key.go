package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/stsfleet/stsfleet/protocol/sts"
)

func newKeyCmd(e env) *cobra.Command {
	return newGroup("key", "Make vending keys and derive decoder keys",
		newKeyNewCmd(e), newKeyDeriveCmd())
}

// keyNewFlags configure key new.
type keyNewFlags struct {
	// dkga is 02 (64-bit key) or 04 (160-bit key).
	dkga string
	// out is the file to create; "-" and empty are refused.
	out string
	// force replaces an existing file.
	force bool
	json  bool
}

func newKeyNewCmd(e env) *cobra.Command {
	f := &keyNewFlags{}
	c := &cobra.Command{
		Use:   "new --dkga 02|04 --out FILE",
		Short: "Write a random vending key to a new 0600 file",
		Long: "key new draws a vending key from the system's secure random source: 8 bytes\n" +
			"for DKGA02, 20 bytes for DKGA04. It writes the key as upper-case hex to FILE,\n" +
			"mode 0600, atomically, and refuses to replace an existing file unless --force.\n" +
			"The key itself is never printed.",
		Example: "  vendor key new --dkga 02 --out vk02.hex\n" +
			"  vendor token issue --vending-key @vk02.hex --dkga 02 ...",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return f.run(cmd, e) },
	}
	flags := c.Flags()
	flags.StringVar(&f.dkga, "dkga", "", "key generation `algorithm` the key is for: 02 or 04")
	flags.StringVar(&f.out, "out", "", "`file` to create (mode 0600)")
	flags.BoolVar(&f.force, "force", false, "replace FILE if it exists")
	flags.BoolVar(&f.json, "json", false, "print one JSON object")
	_ = c.MarkFlagRequired("dkga")
	_ = c.MarkFlagRequired("out")
	return c
}

func (f *keyNewFlags) run(cmd *cobra.Command, e env) error {
	d, err := sts.ParseDKGA(f.dkga)
	if err != nil {
		return fmt.Errorf("--dkga: %w", err)
	}
	if f.out == "" || f.out == "-" {
		return fmt.Errorf("--out %q: want a file name; the key is never printed", f.out)
	}
	if _, err := os.Lstat(f.out); err == nil && !f.force {
		return fmt.Errorf("--out %s: %w; use --force to replace it", f.out, fs.ErrExist)
	}
	key := make([]byte, d.VendingKeyLen())
	defer clear(key)
	if _, err := io.ReadFull(e.random, key); err != nil {
		return fmt.Errorf("read random key: %w", err)
	}
	text := []byte(hexUpper(key) + "\n")
	defer clear(text)
	if err := writeSecretFile(f.out, text, f.force); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	return emit(cmd, f.json, keyNewOutput{File: f.out, DKGA: d.String(), Bits: 8 * len(key)})
}

// writeSecretFile writes data to path with mode 0600, atomically: readers
// see either no file or the whole content. Without replace an existing path
// is never touched.
func writeSecretFile(path string, data []byte, replace bool) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	defer func() {
		// After a link the temporary name is left over; after a rename
		// it is gone and this fails harmlessly.
		_ = os.Remove(tmp.Name())
	}()
	if err := fill(tmp, data); err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	if replace {
		err = os.Rename(tmp.Name(), path)
	} else {
		// A hard link fails if path exists, so a file created since the
		// check above is not replaced either.
		err = os.Link(tmp.Name(), path)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			// The file system has no hard links: check and rename.
			if _, statErr := os.Lstat(path); statErr == nil {
				err = fmt.Errorf("%s: %w", path, fs.ErrExist)
			} else {
				err = os.Rename(tmp.Name(), path)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

// fill writes data to a fresh temporary file, restricts it to its owner and
// flushes it to disk before closing.
func fill(f *os.File, data []byte) error {
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir makes a rename or link in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync key file directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync key file directory: %w", err)
	}
	return nil
}

// keyDeriveFlags configure key derive.
type keyDeriveFlags struct {
	keys keyFlags
	json bool
}

func newKeyDeriveCmd() *cobra.Command {
	f := &keyDeriveFlags{}
	c := &cobra.Command{
		Use:   "derive --dkga 02|04 --vending-key HEX|@FILE --drn .. --sgc .. ...",
		Short: "Derive a meter's decoder key from a vending key (DKGA02, DKGA04)",
		Long: "key derive computes a meter's decoder key from the vending key and the\n" +
			"meter identity: DRN (and IIN), supply group code, tariff index, key\n" +
			"revision and key type; DKGA04 also takes the base date and the algorithm\n" +
			"(--ea) the key is for. It prints the decoder key, the MeterPAN and the\n" +
			"intermediate blocks (DKGA02) or HMAC message (DKGA04), never the vending key.",
		Example: "  vendor key derive --dkga 02 --vending-key 0123456789ABCDEF --key-type 2 \\\n" +
			"    --sgc 123456 --tariff-index 07 --krn 1 --drn 37194275246",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return f.run(cmd) },
	}
	f.keys.registerVending(c.Flags())
	c.Flags().BoolVar(&f.json, "json", false, "print one JSON object")
	return c
}

func (f *keyDeriveFlags) run(cmd *cobra.Command) error {
	dk, p, err := f.keys.derive()
	if err != nil {
		return err
	}
	out := deriveOutput{DecoderKey: hexUpper(dk.Key), MeterPAN: dk.MeterPAN}
	if p.DKGA == sts.DKGA02 {
		out.PANBlock = blockHex(dk.PANBlock)
		out.ControlBlock = blockHex(dk.ControlBlock)
	} else {
		out.HMACMessage = hexUpper(dk.HMACMessage)
	}
	return emit(cmd, f.json, out)
}
