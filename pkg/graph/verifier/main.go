// Command verifier runs inside BuildKit, never on the user's machine.
//
// llbgen compiles it (standard library only, statically linked) in the Go
// toolchain image and mounts it into every target image, which may have no
// shell at all. It has two jobs:
//
//	verifier check -target NAME -want VERSION -in BIN -out FILE
//	    runs BIN version in the image it is mounted in; copies BIN to FILE only
//	    when the run succeeds and its output ends in VERSION.
//	verifier sums -dir DIR -out FILE
//	    writes FILE in `sha256sum -c` format for the files of DIR, sorted by name.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: verifier check|sums [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "check":
		err = runCheck(os.Args[2:])
	case "sums":
		err = runSums(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "llbgen: "+err.Error())
		os.Exit(1)
	}
}

func runCheck(args []string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	target := fs.String("target", "", "target name, for messages")
	want := fs.String("want", "", "version the binary must report")
	in := fs.String("in", "", "binary to run")
	out := fs.String("out", "", "where to copy the binary once verified")
	timeout := fs.Duration("timeout", 2*time.Minute, "longest time the binary may run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *target == "" || *want == "" || *in == "" || *out == "" {
		return errors.New("check needs -target, -want, -in and -out")
	}
	output, err := run(*in, *timeout)
	if err != nil && errors.Is(err, os.ErrNotExist) {
		err = fmt.Errorf("%w%s", err, missingInterpreter(*in))
	}
	if err := check(*target, *want, output, err); err != nil {
		return err
	}
	if err := copyFile(*in, *out); err != nil {
		return fmt.Errorf("target %s: %w", *target, err)
	}
	fmt.Printf("target %s: verified: %s\n", *target, strings.TrimSpace(output))
	return nil
}

// run executes `bin version` with the image's own libc and a bare, fixed
// environment: the working directory and user are whatever llbgen gave the
// exec (/ and root), never the image's.
func run(bin string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "version")
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"}
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %s", timeout)
	}
	return buf.String(), err
}

// check decides whether one run proves the binary works in its image.
func check(target, want, output string, runErr error) error {
	printed := strings.TrimSpace(output)
	shown := printed
	if shown == "" {
		shown = "(nothing)"
	}
	switch {
	case runErr != nil && errors.Is(runErr, os.ErrNotExist):
		return fmt.Errorf("target %s: the binary does not run in its image: %v "+
			"(its ELF interpreter or a library it needs is missing: it was linked against another libc)", target, runErr)
	case runErr != nil:
		return fmt.Errorf("target %s: the binary does not run in its image: `version` failed: %v; it printed: %s", target, runErr, shown)
	case printed != want && !strings.HasSuffix(printed, " "+want):
		return fmt.Errorf("target %s: `version` printed %q, want output ending in %q", target, shown, want)
	}
	return nil
}

// missingInterpreter names the ELF interpreter bin asks for when this image
// lacks it: the usual reason a binary "does not exist" although it does.
func missingInterpreter(bin string) string {
	f, err := elf.Open(bin)
	if err != nil {
		return ""
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b, err := io.ReadAll(p.Open())
		if err != nil {
			return ""
		}
		interp := strings.TrimRight(string(b), "\x00")
		if _, err := os.Stat(interp); err != nil {
			return fmt.Sprintf("; it needs the ELF interpreter %s, which this image lacks", interp)
		}
	}
	return ""
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s: %w", src, err)
	}
	return out.Close()
}

func runSums(args []string) error {
	fs := flag.NewFlagSet("sums", flag.ContinueOnError)
	dir := fs.String("dir", "", "directory of binaries")
	out := fs.String("out", "", "SHA256SUMS file to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *out == "" {
		return errors.New("sums needs -dir and -out")
	}
	data, err := sums(*dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(*out, data, 0o644)
}

// sums returns `sha256sum -c` lines ("HEX  NAME") for the regular files of
// dir, sorted by name.
func sums(dir string) ([]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && e.Name() != "SHA256SUMS" {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("hashing %s: %w", name, err)
		}
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(h.Sum(nil)), name)
	}
	return []byte(b.String()), nil
}
