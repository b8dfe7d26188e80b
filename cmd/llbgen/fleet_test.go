package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	controlapi "github.com/moby/buildkit/api/services/control"
	"github.com/moby/buildkit/client"

	"github.com/llbgen/llbgen/internal/testbed"
)

// routedList has a target without platforms (the default daemon's), one
// for amd64 and arm64 (split between the daemons) and one for arm64 alone;
// tag makes its names this run's own.
func routedList(bed *testbed.Bed, tag string) string {
	return fmt.Sprintf(`helper: {version: v0.12.0}
go: %[1]s
targets:
  - {image: %[2]s, name: plain-%[3]s}
  - {image: %[2]s, name: multi-%[3]s, platforms: [linux/amd64, linux/arm64]}
  - {image: %[2]s, name: arm-%[3]s, platforms: [linux/arm64]}
`, bed.Golang(), bed.Musl(), tag)
}

// With --addr linux/arm64=ADDR, the arm64 binaries are built and verified
// on that daemon and the rest on the default one: each daemon's build
// history names the binaries it built (a session per binary, named as
// buildx names builds), and none built another's. The output directory,
// its SHA256SUMS and every byte are those of a run on one daemon; the
// summary and the metadata file say which daemon built which binary.
func TestRoutedDaemons(t *testing.T) {
	bed := testbed.Require(t)
	second := bed.RequireSecondDaemon(t)
	tag := fmt.Sprint(time.Now().UnixNano())
	file := writeList(t, routedList(bed, tag))
	arm := []string{"multi-" + tag + "-linux-arm64", "arm-" + tag}
	amd := []string{"plain-" + tag, "multi-" + tag + "-linux-amd64"}

	one := t.TempDir()
	if r := runLLBGen(t, bed.Addr, "build", "-f", file, "--out", one, "--progress", "plain"); r.code != 0 {
		t.Fatalf("build on one daemon: exit %d\n%s", r.code, tail(r.stderr, 20))
	}
	started := time.Now()
	out, meta := t.TempDir(), filepath.Join(t.TempDir(), "meta.json")
	r := runLLBGen(t, "", "build", "-f", file, "--out", out, "--addr", bed.Addr, "--addr", "linux/arm64="+second,
		"--metadata-file", meta, "--progress", "plain")
	if r.code != 0 {
		t.Fatalf("build on two daemons: exit %d\n%s", r.code, tail(r.stderr, 30))
	}
	want, got := readDir(t, one), readDir(t, out)
	if names := slices.Sorted(maps.Keys(got)); !slices.Equal(names, slices.Sorted(maps.Keys(want))) || len(names) != 9 {
		t.Fatalf("two daemons wrote %q, one daemon %q", names, slices.Sorted(maps.Keys(want)))
	}
	for name, f := range want {
		if got[name].data != f.data {
			t.Errorf("%s differs between one daemon and two", name)
		}
	}

	// Each daemon's history: who built what.
	built := map[string][]string{bed.Addr: historyNames(t, bed.Addr, started), second: historyNames(t, second, started)}
	for addr, names := range map[string][]string{second: arm, bed.Addr: amd} {
		other := bed.Addr
		if addr == bed.Addr {
			other = second
		}
		for _, n := range names {
			f := "docker-credential-ecr-login-" + n
			if !slices.Contains(built[addr], f) {
				t.Errorf("%s is not in the build history of %s: %q", f, addr, built[addr])
			}
			if slices.Contains(built[other], f) {
				t.Errorf("%s was built on %s too", f, other)
			}
		}
	}

	// The summary's DAEMON column and the metadata file say the same.
	for addr, names := range map[string][]string{second: arm, bed.Addr: amd} {
		for _, n := range names {
			row := summaryRow(t, r.stderr, "docker-credential-ecr-login-"+n)
			if !strings.HasSuffix(row, " "+addr) || !strings.Contains(row, " yes ") {
				t.Errorf("summary row of %s: %q, want it verified on %s", n, row, addr)
			}
		}
	}
	m := readMetadata(t, meta)
	for _, b := range m.Binaries {
		wantAddr := bed.Addr
		if b.Platform == "linux/arm64" {
			wantAddr = second
		}
		if b.Daemon != wantAddr || b.Status != "verified" {
			t.Errorf("metadata of %s: daemon %q, status %q; want %s, verified", b.File, b.Daemon, b.Status, wantAddr)
		}
	}
	if len(m.Daemons) != 2 || m.Daemons[0].Address != bed.Addr || m.Daemons[1].Address != second || m.Daemons[1].Runs == "" {
		t.Errorf("metadata daemons: %+v", m.Daemons)
	}
}

// A daemon that cannot be reached costs only the binaries routed to it:
// they fail with its address and why, in one line, their old files are
// kept, and the rest land (exit 1). When no daemon can be reached,
// nothing is written.
func TestRoutedDaemonDown(t *testing.T) {
	bed := testbed.Require(t)
	tag := fmt.Sprint(time.Now().UnixNano())
	file := writeList(t, routedList(bed, tag))
	down := "tcp://" + closedPort(t)
	out := t.TempDir()
	old := filepath.Join(out, "docker-credential-ecr-login-arm-"+tag)
	if err := os.WriteFile(old, []byte("the user's\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := runLLBGen(t, "", "build", "-f", file, "--out", out, "--addr", bed.Addr, "--addr", "linux/arm64="+down, "--progress", "plain")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, tail(r.stderr, 30))
	}
	line := lineFrom(r.stderr, "multi-"+tag+"-linux-arm64, arm-"+tag+": ")
	if !strings.Contains(line, "cannot reach a BuildKit daemon at "+down) || strings.Contains(line, "\n") {
		t.Errorf("the failed binaries' line: %q\n%s", line, tail(r.stderr, 15))
	}
	got := readDir(t, out)
	for _, n := range []string{"plain-" + tag, "multi-" + tag + "-linux-amd64"} {
		if _, ok := got["docker-credential-ecr-login-"+n]; !ok {
			t.Errorf("%s was not written", n)
		}
	}
	if _, ok := got["docker-credential-ecr-login-multi-"+tag+"-linux-arm64"]; ok {
		t.Error("a binary of the unreachable daemon was written")
	}
	if got[filepath.Base(old)].data != "the user's\n" {
		t.Error("the old file of a binary of the unreachable daemon was replaced")
	}

	none := filepath.Join(t.TempDir(), "out")
	r = runLLBGen(t, "", "build", "-f", file, "--out", none, "--addr", down, "--addr", "linux/arm64="+down+"0", "--progress", "plain")
	if r.code != 1 || !strings.Contains(r.stderr, "no daemon built its part, the output directory was left as it was: cannot reach") {
		t.Errorf("no daemon: exit %d\n%s", r.code, tail(r.stderr, 10))
	}
	if _, err := os.Stat(none); !os.IsNotExist(err) {
		t.Error("with no daemon, the output directory was made")
	}
}

// historyNames are the names (buildx's BUILDKIT_BUILD_NAME) of the
// builds the daemon at addr recorded since started.
func historyNames(t *testing.T, addr string, since time.Time) []string {
	t.Helper()
	var names []string
	for _, attrs := range historyAttrs(t, addr, since) {
		names = append(names, attrs["build-arg:BUILDKIT_BUILD_NAME"])
	}
	return names
}

// historyAttrs are the frontend attributes of the builds the daemon at
// addr recorded since started, that did not fail.
func historyAttrs(t *testing.T, addr string, since time.Time) []map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.New(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stream, err := c.ControlClient().ListenBuildHistory(ctx, &controlapi.BuildHistoryRequest{EarlyExit: true})
	if err != nil {
		t.Fatalf("build history of %s: %v", addr, err)
	}
	var out []map[string]string
	for {
		ev, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("build history of %s: %v", addr, err)
		}
		rec := ev.Record
		if rec == nil || rec.CreatedAt == nil || rec.CreatedAt.AsTime().Before(since) || rec.Error != nil {
			continue
		}
		out = append(out, rec.FrontendAttrs)
	}
	return out
}

// A buildx builder with two nodes, made by buildx itself, gives llbgen
// build its daemons: the arm64 binaries are built on the node that names
// linux/arm64, the rest on the first node.
func TestBuilderNodes(t *testing.T) {
	bed := testbed.Require(t)
	second := bed.RequireSecondDaemon(t)
	x := bed.RequireBuildx(t)
	cfg := fleetBuilder(t, x, bed.Addr, second)
	tag := fmt.Sprint(time.Now().UnixNano())
	file := writeList(t, routedList(bed, tag))
	out := t.TempDir()
	cmd := llbgenCmd(t, "", "build", "-f", file, "--out", out, "--progress", "plain")
	cmd.Env = append(cmd.Env, "BUILDX_CONFIG="+cfg, "BUILDX_BUILDER=fleet")
	r := runCmd(t, cmd)
	if r.code != 0 {
		t.Fatalf("build with BUILDX_BUILDER=fleet: exit %d\n%s", r.code, tail(r.stderr, 30))
	}
	for file, addr := range map[string]string{"plain-" + tag: bed.Addr, "multi-" + tag + "-linux-amd64": bed.Addr, "multi-" + tag + "-linux-arm64": second, "arm-" + tag: second} {
		row := summaryRow(t, r.stderr, "docker-credential-ecr-login-"+file)
		if !strings.HasSuffix(row, " "+addr) || !strings.Contains(row, " yes ") {
			t.Errorf("summary row of %s: %q, want it verified on %s", file, row, addr)
		}
	}
}

// fleetBuilder makes, with buildx itself, a remote builder "fleet" of two
// nodes in a new buildx configuration directory, which it returns: amd
// (linux/amd64) at amd, and arm (linux/arm64) at arm.
func fleetBuilder(t *testing.T, x *testbed.Buildx, amd, arm string) string {
	t.Helper()
	cfg := t.TempDir()
	for _, args := range [][]string{
		{"create", "--name", "fleet", "--driver", "remote", "--node", "amd", "--platform", "linux/amd64", amd},
		{"create", "--append", "--name", "fleet", "--node", "arm", "--platform", "linux/arm64", arm},
	} {
		cmd := exec.Command(x.Path, args...)
		cmd.Env = append(os.Environ(), "BUILDX_CONFIG="+cfg)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("buildx %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return cfg
}
