// Package testbed connects integration tests to the test bed that
// hack/testbed.sh brings up: a real buildkitd and a loopback registry holding
// stand-in images. Outside CI a test skips, in one line, when there is no
// daemon; in CI (CI=true) that is a failure, never a skip.
package testbed

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Bed is a reachable test bed.
type Bed struct {
	Addr     string // BuildKit address, as BUILDKIT_HOST
	Registry string // host:port of the stand-in registry
	Buildctl string // path of buildctl
}

// Stand-in image references in the registry (see hack/standins.sh).
func (b *Bed) Musl() string  { return b.Registry + "/library/docker:19.03.12" }
func (b *Bed) Glibc() string { return b.Registry + "/gitlab/gitlab-runner:v13.2.1" }
func (b *Bed) MuslRunner() string {
	return b.Registry + "/gitlab/gitlab-runner:alpine-v13.2.1"
}
func (b *Bed) Golang() string { return b.Registry + "/library/golang:1.26" }

// Hostile stand-ins (glibc-based; see hack/standins.sh and hack/hostile/):
// HostileCC's C compiler vandalises every Go build cache it can write and
// fails, and so do its git, hg, svn, bzr and fossil (it has /.git and
// /llbgen/.git, so a go build there with VCS stamping on runs its git), and
// its /go.work and /llbgen/go.work make a go build without GOWORK=off fail;
// HostilePreload's /etc/ld.so.preload library writes garbage files named
// like another target's into /llbgen/out and every writable mount when the
// helper runs there, and says so on its standard error.
func (b *Bed) HostileCC() string      { return b.Registry + "/standin/hostile-cc:latest" }
func (b *Bed) HostilePreload() string { return b.Registry + "/standin/hostile-preload:latest" }

// Broken-toolchain stand-ins, for the list's go: line (linux/amd64; see
// hack/standins.sh): GoBroken is the golang stand-in whose net/http does not
// compile (server.go ends in a syntax error), so the helper's compile fails
// while the stage tool, which does not import net/http, compiles; GoNone is
// a Go image with no /usr/local/go; GoFile's /usr/local/go is a regular
// file; GoWrongArch's /usr/local/go/bin/go is an arm64 ELF in an image whose
// config says linux/amd64.
func (b *Bed) GoBroken() string    { return b.Registry + "/standin/go-broken:latest" }
func (b *Bed) GoNone() string      { return b.Registry + "/standin/go-none:latest" }
func (b *Bed) GoFile() string      { return b.Registry + "/standin/go-file:latest" }
func (b *Bed) GoWrongArch() string { return b.Registry + "/standin/go-wrongarch:latest" }

var (
	once   sync.Once
	bed    *Bed
	reason string
)

// Require returns the test bed, or skips (fails in CI) when there is none.
func Require(t testing.TB) *Bed {
	t.Helper()
	once.Do(func() { bed, reason = find() })
	if bed == nil {
		unusable(t, "the test bed's BuildKit daemon", reason)
	}
	return bed
}

// unusable ends a test that needs what, a part of the test bed, which is
// not there: outside CI it skips, saying why in one line; in CI
// (CI=true) it fails.
func unusable(t testing.TB, what, reason string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set but %s is unusable: %s", what, reason)
	}
	t.Skipf("skipping: %s is unusable (%s); `make test` brings it up", what, reason)
}

// RequireCrane returns the path of the test bed's crane.
func RequireCrane(t testing.TB) string {
	t.Helper()
	crane := os.Getenv("LLBGEN_CRANE")
	if crane == "" {
		unusable(t, "the test bed's crane", "LLBGEN_CRANE is not set")
	}
	return crane
}

func find() (*Bed, string) {
	b := &Bed{Addr: os.Getenv("BUILDKIT_HOST"), Registry: os.Getenv("LLBGEN_TEST_REGISTRY")}
	if b.Addr == "" || b.Registry == "" {
		return nil, "BUILDKIT_HOST or LLBGEN_TEST_REGISTRY is not set"
	}
	path, err := exec.LookPath("buildctl")
	if err != nil {
		return nil, "buildctl is not on PATH"
	}
	b.Buildctl = path
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--addr", b.Addr, "debug", "workers").CombinedOutput()
	if err != nil {
		return nil, fmt.Sprintf("no daemon answers at %s: %v: %s", b.Addr, err, strings.TrimSpace(string(out)))
	}
	return b, ""
}

// Build runs `buildctl build` with def on stdin and the given extra
// arguments; it returns stderr (BuildKit's plain progress) and the error.
func (b *Bed) Build(ctx context.Context, def []byte, args ...string) (string, error) {
	full := append([]string{"--addr", b.Addr, "build", "--progress", "plain"}, args...)
	cmd := exec.CommandContext(ctx, b.Buildctl, full...)
	cmd.Stdin = bytes.NewReader(def)
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	err := cmd.Run()
	return stderr.String(), err
}

// RequireSecondDaemon returns the address of the test bed's second
// buildkitd, another machine's daemon for the tests of a fleet: same
// configuration, a cache of its own.
func (b *Bed) RequireSecondDaemon(t testing.TB) string {
	t.Helper()
	addr := os.Getenv("LLBGEN_BUILDKIT_HOST2")
	if addr == "" {
		unusable(t, "the test bed's second buildkitd", "LLBGEN_BUILDKIT_HOST2 is not set")
	}
	return addr
}
