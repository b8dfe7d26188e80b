package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llbgen/llbgen/internal/testbed"
)

// bakePlatformsList has a target that names no platforms and one that
// names amd64 and arm64.
func bakePlatformsList(bed *testbed.Bed) string {
	return listOf(bed, "  - image: %s\n  - image: %s\n    name: multi\n    platforms: [linux/amd64, linux/arm64]\n", bed.Musl(), bed.Musl())
}

// bake --set binaries.platform=linux/amd64,linux/arm64 gives BuildKit's
// multi-platform result: a directory per platform, each the output
// directory of that platform's binaries, with the names llbgen build
// gives them and a SHA256SUMS of its own, byte for byte what llbgen build
// writes. A multi-node buildx builder (a node per platform, the arm64
// node the test bed's second daemon) gives the same directories, each
// built on its node.
func TestBakePlatforms(t *testing.T) {
	bed := testbed.Require(t)
	second := bed.RequireSecondDaemon(t)
	x := bed.RequireBuildx(t)
	repo := repoCopy(t)
	dir := t.TempDir()
	list := filepath.Join(dir, "bake", "targets.yaml")
	if err := os.MkdirAll(filepath.Dir(list), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, list, bakePlatformsList(bed))

	// What llbgen build writes: amd64 (the target without platforms on
	// this amd64 daemon, and both of multi), and the arm64 build of the
	// target without platforms.
	amd, arm := t.TempDir(), t.TempDir()
	for out, body := range map[string]string{
		amd: bakePlatformsList(bed),
		arm: listOf(bed, "  - image: %s\n    platforms: [linux/arm64]\n", bed.Musl()),
	} {
		if r := runLLBGen(t, bed.Addr, "build", "-f", writeList(t, body), "--out", out, "--progress", "plain"); r.code != 0 {
			t.Fatalf("llbgen build: exit %d\n%s", r.code, tail(r.stderr, 20))
		}
	}
	const p = "docker-credential-ecr-login-"
	want := map[string]map[string]string{ // platform directory -> file -> the directory llbgen build wrote it to
		"linux_amd64": {p + "docker_19.03.12": amd, p + "multi-linux-amd64": amd},
		"linux_arm64": {p + "docker_19.03.12": arm, p + "multi-linux-arm64": amd},
	}
	check := func(t *testing.T, out string) {
		t.Helper()
		entries, _ := os.ReadDir(out)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if len(names) != 2 {
			t.Fatalf("bake wrote %q, want linux_amd64 and linux_arm64", names)
		}
		for pdir, files := range want {
			got := filepath.Join(out, pdir)
			wantFiles := map[string]string{}
			for f := range files {
				wantFiles[f] = ""
			}
			assertFiles(t, got, wantFiles)
			assertSumsOK(t, got)
			for f, from := range files {
				for _, name := range []string{f, f + ".buildinfo"} {
					if readFile(t, filepath.Join(got, name)) != readFile(t, filepath.Join(from, name)) {
						t.Errorf("%s/%s differs from llbgen build's", pdir, name)
					}
				}
			}
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	bake := func(t *testing.T, out string, env []string, builder ...string) {
		t.Helper()
		args := append(builder, "bake", "--progress", "plain", "--allow=fs.read="+filepath.Dir(list), "--allow=fs.write="+out,
			"--set", "frontend.platform=linux/amd64", "--set", "binaries.platform=linux/amd64,linux/arm64")
		cmd := exec.CommandContext(ctx, x.Path, args...)
		cmd.Dir = repo
		cmd.Env = append(append(os.Environ(), "OUT="+out, "TARGETS_FILE="+list), env...)
		var log bytes.Buffer
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Run(); err != nil {
			t.Fatalf("buildx %s: %v\n%s", strings.Join(args, " "), err, tail(log.String(), 30))
		}
	}

	t.Run("one node", func(t *testing.T) {
		out := t.TempDir()
		bake(t, out, []string{"DOCKER_CONFIG=" + x.Config}, "--builder", x.Builder)
		check(t, out)
	})
	t.Run("a node per platform", func(t *testing.T) {
		cfg := fleetBuilder(t, x, bed.Addr, second)
		started := time.Now()
		out := t.TempDir()
		// buildx hands the frontend target's result to binaries only on
		// one node: a builder of several takes the published frontend.
		bake(t, out, []string{"BUILDX_CONFIG=" + cfg, "FRONTEND=" + frontendImage(t, bed, bed.RequireEngine(t))}, "--builder", "fleet")
		check(t, out)
		if n := frontendBuilds(t, second, started, "linux/arm64"); n == 0 {
			t.Error("the arm64 node recorded no build of linux/arm64")
		}
		if n := frontendBuilds(t, bed.Addr, started, "linux/arm64"); n != 0 {
			t.Errorf("the amd64 node recorded %d builds of linux/arm64", n)
		}
	})
}

// frontendBuilds counts the builds for platform that the daemon at addr
// recorded since started.
func frontendBuilds(t *testing.T, addr string, since time.Time, platform string) int {
	t.Helper()
	n := 0
	for _, attrs := range historyAttrs(t, addr, since) {
		if attrs["platform"] == platform {
			n++
		}
	}
	return n
}
