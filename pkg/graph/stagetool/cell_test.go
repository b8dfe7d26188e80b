package stagetool

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCellFile runs cell mode and reads what it wrote.
func runCellFile(t *testing.T, args ...string) cellResult {
	t.Helper()
	out := filepath.Join(t.TempDir(), "cells", "x", "cell.json") // directories made as needed
	if err := runCell(append(args, "-out", out)); err != nil {
		t.Fatalf("cell %q: %v", args, err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res cellResult
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	return res
}

func TestCell(t *testing.T) {
	dir := t.TempDir()
	ok := gcc(t, dir, "ok", versionSrc)
	fail := gcc(t, dir, "fail", failSrc)
	long := gcc(t, dir, "long", `#include <stdio.h>
int main(void) { for (int i = 0; i < 5000; i++) putchar('a'); return 1; }
`)
	slow := gcc(t, dir, "slow", `#include <unistd.h>
int main(void) { sleep(30); return 0; }
`)
	musl := gcc(t, dir, "musl", versionSrc, "-Wl,--dynamic-linker="+muslLoader)

	if res := runCellFile(t, "-in", ok, "-want", "0.12.0"); res != (cellResult{OK: true, Output: "x (y) 0.12.0"}) {
		t.Errorf("ok: %+v", res)
	}
	if res := runCellFile(t, "-in", ok, "-want", "0.13.0"); res.OK || res.Output != "x (y) 0.12.0" ||
		res.Cause != "`version` printed \"x (y) 0.12.0\", want output ending in \"0.13.0\"" {
		t.Errorf("other version: %+v", res)
	}
	if res := runCellFile(t, "-in", fail, "-want", "0.12.0"); res.OK || res.Output != "boom\nsecond line" ||
		res.Cause != "`version` failed: exit status 3; it printed: boom | second line" {
		t.Errorf("failing binary: %+v", res)
	}
	if res := runCellFile(t, "-in", long, "-want", "0.12.0"); res.OK || len(res.Output) > 2048 || !strings.HasPrefix(res.Output, "aaaa") {
		t.Errorf("long output: ok %v, %d bytes", res.OK, len(res.Output))
	}
	if res := runCellFile(t, "-in", slow, "-want", "0.12.0", "-timeout", "200ms"); res.OK || !strings.Contains(res.Cause, "timed out after 200ms") {
		t.Errorf("slow binary: %+v", res)
	}
	// A binary for another platform than the image's is not run: this
	// machine may emulate it, the image's machines need not.
	if res := runCellFile(t, "-in", ok, "-want", "0.12.0", "-platform", "linux/arm64"); res.OK ||
		res.Cause != "the binary is for linux/amd64, the image for linux/arm64: not run, it needs a machine of its own platform (or an emulator)" {
		t.Errorf("other platform: %+v", res)
	}
	if res := runCellFile(t, "-in", ok, "-want", "0.12.0", "-platform", "linux/amd64/v2"); !res.OK {
		t.Errorf("same platform, with a variant: %+v", res)
	}
	if _, err := os.Stat(muslLoader); err != nil {
		res := runCellFile(t, "-in", musl, "-want", "0.12.0")
		if res.OK || !strings.HasPrefix(res.Cause, "missing ELF interpreter /lib/ld-musl-x86_64.so.1: the binary is linked against musl, the image has glibc (") {
			t.Errorf("musl-linked binary: %+v", res)
		}
	}
}

// Only its own errors fail cell mode.
func TestCellErrors(t *testing.T) {
	bin := gcc(t, t.TempDir(), "ok", versionSrc)
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"no -out":        {"-in", bin, "-want", "0.12.0"},
		"no -want":       {"-in", bin, "-out", filepath.Join(dir, "a.json")},
		"bad flag":       {"-in", bin, "-want", "0.12.0", "-out", filepath.Join(dir, "b.json"), "-nope"},
		"extra argument": {"-in", bin, "-want", "0.12.0", "-out", filepath.Join(dir, "c.json"), "more"},
		"no binary":      {"-in", filepath.Join(dir, "none"), "-want", "0.12.0", "-out", filepath.Join(dir, "d.json")},
		"unwritable":     {"-in", bin, "-want", "0.12.0", "-out", filepath.Join(file, "e.json")},
	} {
		if err := runCell(args); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
