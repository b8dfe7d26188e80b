package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/llbgen/llbgen/pkg/targets"
)

// endless writes to w until it fails: once the reader has read what it
// wants and closed its end.
func endless(w *os.File) {
	defer w.Close()
	buf := []byte(strings.Repeat("a: b\n", 1<<12))
	for {
		if _, err := w.Write(buf); err != nil {
			return
		}
	}
}

// A list that never ends, from a device, a FIFO or stdin, is refused
// after MaxFileBytes, quickly, exit 2 and nothing on stdout.
func TestEndlessListExits2Quickly(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, []byte(strings.Repeat("#", 5<<20)), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		file func(t *testing.T) string
	}{
		{"a 5 MB file", func(*testing.T) string { return big }},
		{"/dev/zero", func(*testing.T) string { return "/dev/zero" }},
		{"a FIFO", func(t *testing.T) string {
			fifo := filepath.Join(t.TempDir(), "fifo")
			if err := unix.Mkfifo(fifo, 0o600); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
			go func() {
				w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
				if err == nil {
					endless(w)
				}
			}()
			return fifo
		}},
		{"stdin, a pipe", func(t *testing.T) string {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			saved, err := unix.Dup(0)
			if err != nil {
				t.Fatal(err)
			}
			if err := unix.Dup2(int(r.Fd()), 0); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				unix.Dup2(saved, 0)
				unix.Close(saved)
				r.Close()
			})
			go endless(w)
			return "/dev/stdin"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := tt.file(t)
			start := time.Now()
			code, stdout, stderr := runCLI(t, "", "-f", file)
			if took := time.Since(start); took > time.Second {
				t.Errorf("took %v, want < 1s", took)
			}
			if code != exitBadInput || stdout != "" {
				t.Errorf("exit %d with %d bytes on stdout, want 2 and none; stderr:\n%.500s", code, len(stdout), stderr)
			}
			want := `^` + regexp.QuoteMeta(file) + `:1:1: the file is more than 524288 bytes \(512 KiB\), the most a target list may have; check that this is the target list, or split it into several\n$`
			if !regexp.MustCompile(want).MatchString(stderr) {
				t.Errorf("stderr %.500q does not match %q", stderr, want)
			}
		})
	}
}

// loadFile reads no more than one byte past the limit: a list right at the
// limit is read whole and parsed.
func TestLoadFileAtTheLimit(t *testing.T) {
	list := goodList + strings.Repeat("#", targets.MaxFileBytes-len(goodList)-1) + "\n"
	dir := dirWith(t, map[string]string{"targets.yaml": list})
	l, err := loadFile(filepath.Join(dir, "targets.yaml"))
	if err != nil || len(l.Targets) != 2 {
		t.Fatalf("a list of exactly %d bytes: %v", targets.MaxFileBytes, err)
	}
	_, err = loadFile(dir) // a directory: a read error, bad input
	if code := exitCode(err, &strings.Builder{}); code != exitBadInput {
		t.Errorf("reading a directory: exit %d, want 2 (%v)", code, err)
	}
}
