package testbed

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Daemon is a private buildkitd for tests that stop, kill or prune it, so
// that the shared test-bed daemon other tests use is never disturbed. Its
// cache starts cold. It pulls straight from the test-bed registry (plain
// HTTP on loopback needs no configuration).
type Daemon struct {
	Addr string
	// Args are extra buildkitd flags; ClientArgs the buildctl flags needed
	// to reach it (TLS).
	Args, ClientArgs []string
	root             string
	log              string
	cmd              *exec.Cmd
	bed              *Bed
}

// StartDaemon starts a private daemon on a unix socket of its own; it is
// stopped when the test ends.
func (b *Bed) StartDaemon(t *testing.T) *Daemon {
	return b.StartDaemonWith(t, Daemon{})
}

// StartDaemonWith starts a private daemon with d's Addr (a socket of its own
// when empty), Args and ClientArgs.
func (b *Bed) StartDaemonWith(t *testing.T, d Daemon) *Daemon {
	t.Helper()
	bin, err := exec.LookPath("buildkitd")
	if err != nil {
		unusable(t, "the test bed's buildkitd", "it is not on PATH")
	}
	base := os.Getenv("LLBGEN_TESTBED")
	if base == "" {
		base = os.TempDir()
	}
	dir, err := os.MkdirTemp(base, "private-daemon-")
	if err != nil {
		t.Fatal(err)
	}
	dd := &d
	if dd.Addr == "" {
		dd.Addr = "unix://" + filepath.Join(dir, "buildkitd.sock")
	}
	dd.root = filepath.Join(dir, "root")
	dd.log = filepath.Join(dir, "buildkitd.log")
	dd.bed = b
	d.start(t, bin)
	t.Cleanup(func() {
		d.Stop(false)
		// A daemon killed mid-build leaves its containers' root file
		// systems mounted; unmount them, or the directory stays behind.
		unmountUnder(dir)
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("removing the private daemon's directory: %v", err)
		}
	})
	return dd
}

func (d *Daemon) start(t *testing.T, bin string) {
	t.Helper()
	logf, err := os.OpenFile(d.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--oci-worker=true", "--containerd-worker=false", "--root", d.root, "--addr", d.Addr}, d.Args...)
	d.cmd = exec.Command(bin, args...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		check := append(append([]string{"--addr", d.Addr}, d.ClientArgs...), "debug", "workers")
		if exec.CommandContext(ctx, d.bed.Buildctl, check...).Run() == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	log, _ := os.ReadFile(d.log)
	t.Fatalf("private buildkitd did not come up:\n%s", log)
}

// Stop ends the daemon: with kill, at once (SIGKILL), as a crash would.
func (d *Daemon) Stop(kill bool) {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	d.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		<-done
	}
	d.cmd = nil
}

// Restart starts the daemon again on the same root and socket.
func (d *Daemon) Restart(t *testing.T) {
	t.Helper()
	d.Stop(false)
	bin, err := exec.LookPath("buildkitd")
	if err != nil {
		t.Fatal(err)
	}
	d.start(t, bin)
}

// Prune empties the daemon's cache, cache mounts included.
func (d *Daemon) Prune(t *testing.T) {
	t.Helper()
	args := append(append([]string{"--addr", d.Addr}, d.ClientArgs...), "prune", "--all")
	if out, err := exec.Command(d.bed.Buildctl, args...).CombinedOutput(); err != nil {
		t.Fatalf("prune: %v\n%s", err, out)
	}
}

func (d *Daemon) String() string { return fmt.Sprintf("private buildkitd at %s", d.Addr) }

// unmountUnder detaches every mount below dir, and every mount made from
// it (BuildKit's read-only /tmp/buildkit-mount* views of its snapshots),
// deepest first.
func unmountUnder(dir string) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(data), "\n") {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT ...
		if f := strings.Fields(line); len(f) > 4 && f[4] != "/" && strings.Contains(line, dir+"/") {
			points = append(points, f[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	for _, p := range points {
		syscall.Unmount(p, syscall.MNT_DETACH)
	}
}
