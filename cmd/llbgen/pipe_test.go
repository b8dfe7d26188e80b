package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llbgen/llbgen/internal/testbed"
	"github.com/llbgen/llbgen/pkg/graph"
)

var (
	buildOnce sync.Once
	llbgenBin string
	buildErr  error
)

// llbgenBinary builds the command once, for tests that pipe it into buildctl.
func llbgenBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "llbgen-test-bin")
		if err != nil {
			buildErr = err
			return
		}
		llbgenBin = filepath.Join(dir, "llbgen")
		out, err := exec.Command("go", "build", "-o", llbgenBin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return llbgenBin
}

func writeList(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "targets.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// pipe runs `llbgen ARGS | buildctl build --output type=local,dest=DIR` through
// a shell, as a user would, and returns the output directory.
func pipe(t *testing.T, bed *testbed.Bed, args ...string) (dir, log string, err error) {
	t.Helper()
	return pipeAt(t, bed, bed.Addr, args...)
}

// pipeAt is pipe to the daemon at addr.
func pipeAt(t *testing.T, bed *testbed.Bed, addr string, args ...string) (dir, log string, err error) {
	t.Helper()
	dir = t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	script := `"$LLBGEN" "$@" | "$BUILDCTL" --addr "$ADDR" build --progress plain --output "type=local,dest=$DEST"`
	cmd := exec.CommandContext(ctx, "bash", append([]string{"-o", "pipefail", "-c", script, "pipe"}, args...)...)
	cmd.Env = append(os.Environ(), "LLBGEN="+llbgenBinary(t), "BUILDCTL="+bed.Buildctl, "ADDR="+addr, "DEST="+dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return dir, out.String(), err
}

func TestPipeBuildsOneVerifiedBinaryPerStandIn(t *testing.T) {
	bed := testbed.Require(t)
	list := writeList(t, fmt.Sprintf(`helper:
  version: v0.12.0
go: %s
targets:
  - image: %s
  - image: %s
  - image: %s
    name: runner-alpine
`, bed.Golang(), bed.Musl(), bed.Glibc(), bed.MuslRunner()))
	dir, log, err := pipe(t, bed, "-f", list)
	if err != nil {
		t.Fatalf("llbgen | buildctl: %v\n%s", err, log)
	}
	want := map[string]string{
		"docker-credential-ecr-login-docker_19.03.12":       bed.Musl(),
		"docker-credential-ecr-login-gitlab-runner_v13.2.1": bed.Glibc(),
		"docker-credential-ecr-login-runner-alpine":         bed.MuslRunner(),
	}
	assertFiles(t, dir, want)
	assertSums(t, dir)
	for file, image := range want {
		path := filepath.Join(dir, file)
		assertStatic(t, path)
		out, status := bed.RunInImage(context.Background(), t, image, path)
		if status != "0" || !strings.HasSuffix(strings.TrimSpace(out), "0.12.0") {
			t.Errorf("%s in %s: exit %s, printed %q; want exit 0 and version 0.12.0", file, image, status, out)
		}
	}
}

// The repository's own list, through the test bed's docker.io mirror: what
// `make demo` does.
func TestPipeRepositoryListThroughMirror(t *testing.T) {
	bed := testbed.Require(t)
	dir, log, err := pipe(t, bed, "-f", "../../targets.yaml")
	if err != nil {
		t.Fatalf("llbgen -f targets.yaml | buildctl: %v\n%s", err, log)
	}
	assertFiles(t, dir, map[string]string{
		"docker-credential-ecr-login-docker_19.03.12":              "",
		"docker-credential-ecr-login-gitlab-runner_v13.2.1":        "",
		"docker-credential-ecr-login-gitlab-runner_alpine-v13.2.1": "",
	})
	assertSums(t, dir)
}

// What the original ./build script did, with flags instead of a list. With
// no targets.yaml in the working directory the defaults apply (golang:1.26,
// through the test bed's mirror).
func TestPipeImageFlags(t *testing.T) {
	bed := testbed.Require(t)
	t.Chdir(t.TempDir())
	dir, log, err := pipe(t, bed, "--image", bed.Musl(), "--name", "alpine", "--image", bed.Glibc())
	if err != nil {
		t.Fatalf("llbgen --image ... | buildctl: %v\n%s", err, log)
	}
	assertFiles(t, dir, map[string]string{
		"docker-credential-ecr-login-alpine":                "",
		"docker-credential-ecr-login-gitlab-runner_v13.2.1": "",
	})
	assertSums(t, dir)
}

func assertFiles(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got, exp []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	for f := range want {
		exp = append(exp, f, f+graph.BuildInfoSuffix)
	}
	exp = append(exp, "SHA256SUMS")
	sort.Strings(exp)
	if strings.Join(got, " ") != strings.Join(exp, " ") {
		t.Fatalf("output files %q, want %q", got, exp)
	}
}

// assertSums checks SHA256SUMS the way `sha256sum -c` does, and its order.
func assertSums(t *testing.T, dir string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	var names []string
	for _, line := range lines {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q is not `HEX  NAME`", line)
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(b)
		if hex.EncodeToString(h[:]) != sum {
			t.Errorf("SHA256SUMS says %s for %s, file has %x", sum, name, h)
		}
		names = append(names, name)
	}
	if !sort.StringsAreSorted(names) {
		t.Errorf("SHA256SUMS is not sorted by name: %q", names)
	}
	if len(names) != countBinaries(t, dir) {
		t.Errorf("SHA256SUMS lists %d files, directory has %d binaries", len(names), countBinaries(t, dir))
	}
	if path, err := exec.LookPath("sha256sum"); err == nil {
		cmd := exec.Command(path, "-c", "SHA256SUMS")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("sha256sum -c: %v\n%s", err, out)
		}
	}
}

func countBinaries(t *testing.T, dir string) int {
	entries, _ := filepath.Glob(filepath.Join(dir, "docker-credential-ecr-login-*"))
	n := 0
	for _, e := range entries {
		if !strings.HasSuffix(e, graph.BuildInfoSuffix) {
			n++
		}
	}
	return n
}

// assertStatic checks the binary has no ELF interpreter: CGO_ENABLED=0 made
// it independent of any image's libc.
func assertStatic(t *testing.T, path string) {
	t.Helper()
	machine, interp, _ := elfOf(t, path)
	if interp != "" {
		t.Errorf("%s has an ELF interpreter: it is dynamically linked", path)
	}
	if machine != elf.EM_X86_64 {
		t.Errorf("%s is for %v, want x86-64", path, machine)
	}
}
