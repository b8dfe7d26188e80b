package stagetool

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// cellResult is what cell mode writes: whether the binary ran in the image
// and reported the version, what it printed, and why not.
type cellResult struct {
	OK     bool   `json:"ok"`
	Output string `json:"output"`
	Cause  string `json:"cause"`
	// OtherPlatform: the binary is for another platform than the image, so
	// it was not run.
	OtherPlatform bool `json:"other_platform,omitempty"`
	// NotRun: nothing here runs the binary's platform (no emulator), so it
	// says nothing of the image's own machines.
	NotRun bool `json:"not_run,omitempty"`
}

// maxCellOutput bounds the output a cell keeps.
const maxCellOutput = 2 << 10

// runCell runs `BIN version` like check, for one cell of a matrix of
// binaries and images: the outcome goes to FILE, and only the stage tool's own
// errors (flags, a missing BIN, writing FILE) fail it.
func runCell(args []string) error {
	fs := flag.NewFlagSet("cell", flag.ContinueOnError)
	in := fs.String("in", "", "binary to run")
	want := fs.String("want", "", "version the binary must report")
	fs.Var(&checkArgs, "arg", "an argument to run the binary with (repeated; default: version)")
	out := fs.String("out", "", "JSON file to write the outcome to")
	timeout := fs.Duration("timeout", 2*time.Minute, "longest time the binary may run")
	platform := fs.String("platform", "", "the image's platform (os/arch[/variant]): a binary for another one is not run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" || *want == "" || *out == "" || fs.NArg() > 0 {
		return errors.New("cell needs -in, -want and -out, and no other arguments")
	}
	if _, err := os.Stat(*in); err != nil {
		return fmt.Errorf("cell: %w", err)
	}
	var res cellResult
	if c := otherPlatform(*in, *platform); c != "" {
		res = cellResult{Cause: c, OtherPlatform: true}
	} else {
		output, runErr := run(*in, *timeout)
		res = cell("/", *in, *want, output, runErr)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(res); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return fmt.Errorf("cell: %w", err)
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("cell: %w", err)
	}
	if res.OK {
		fmt.Printf("cell %s: ok: %s\n", *in, res.Output)
	} else {
		fmt.Printf("cell %s: not ok: %s\n", *in, res.Cause)
	}
	return nil
}

// cell judges one run of `bin version` in the image whose root file system
// is root, by the rule check applies.
func cell(root, bin, want, output string, runErr error) cellResult {
	cause := why(root, bin, want, output, runErr)
	return cellResult{OK: cause == "", Output: clip(strings.TrimSpace(output), maxCellOutput), Cause: cause,
		NotRun: errors.Is(runErr, syscall.ENOEXEC)}
}

// otherPlatform says why a binary built for another platform than the
// image's does not run there, or "". Run here, it might: this machine may
// emulate it, the image's own machines need not.
func otherPlatform(bin, platform string) string {
	if platform == "" {
		return ""
	}
	got, err := elfPlatform(bin)
	if err != nil {
		return ""
	}
	if samePlatform(got, platform) {
		return ""
	}
	return fmt.Sprintf("the binary is for %s, the image for %s: not run, it needs a machine of its own platform (or an emulator)", got, platform)
}

// samePlatform compares os/arch, ignoring a variant ("linux/arm" is
// "linux/arm/v7" as far as an ELF header tells).
func samePlatform(a, b string) bool {
	osArch := func(p string) string {
		parts := strings.SplitN(p, "/", 3)
		if len(parts) < 2 {
			return p
		}
		return parts[0] + "/" + parts[1]
	}
	return osArch(a) == osArch(b)
}
