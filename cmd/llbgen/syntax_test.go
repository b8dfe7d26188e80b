package main

import (
	"archive/tar"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/internal/testbed"
	"github.com/llbgen/llbgen/pkg/targets"
)

var (
	frontendOnce sync.Once
	frontendRef  string
	frontendErr  error
)

// frontendImage pushes the frontend image to the test registry with `make
// frontend-image` on the engine's default builder, once per test run, and
// returns its reference. Its tag is new for every run, so that an image an
// earlier run pushed cannot stand in for it.
func frontendImage(t *testing.T, bed *testbed.Bed, e *testbed.Engine) string {
	t.Helper()
	frontendOnce.Do(func() {
		if _, err := exec.LookPath("make"); err != nil {
			frontendErr = errors.New("make is not on PATH")
			return
		}
		tag := "test-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		repo := repoCopy(t)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "make", "frontend-image", "REGISTRY="+bed.Registry, "FRONTEND_TAG="+tag,
			"BUILDX="+e.Docker+" buildx")
		cmd.Dir = repo
		cmd.Env = append(e.Env(), "BUILDKIT_PROGRESS=plain")
		if out, err := cmd.CombinedOutput(); err != nil {
			frontendErr = fmt.Errorf("make frontend-image: %v\n%s", err, tail(string(out), 30))
			return
		}
		frontendRef = bed.Registry + "/llbgen/frontend:" + tag
	})
	if frontendErr != nil {
		t.Fatal(frontendErr)
	}
	if frontendRef == "" {
		t.Fatal("pushing the frontend image stopped in an earlier test")
	}
	return frontendRef
}

// TestFrontendImage: `make frontend-image` pushes one image for linux/amd64
// and linux/arm64, each with llbgen built for its platform.
func TestFrontendImage(t *testing.T) {
	bed := testbed.Require(t)
	ref := frontendImage(t, bed, bed.RequireEngine(t))
	crane := testbed.RequireCrane(t)
	out, err := exec.Command(crane, "manifest", "--insecure", ref).Output()
	if err != nil {
		t.Fatalf("crane manifest %s: %v", ref, err)
	}
	var index ocispecs.Index
	if err := json.Unmarshal(out, &index); err != nil {
		t.Fatalf("%s is not an image index: %v\n%s", ref, err, out)
	}
	platforms := map[string]bool{}
	for _, m := range index.Manifests {
		if m.Platform != nil {
			platforms[m.Platform.OS+"/"+m.Platform.Architecture] = true
		}
	}
	for platform, machine := range map[string]elf.Machine{"linux/amd64": elf.EM_X86_64, "linux/arm64": elf.EM_AARCH64} {
		if !platforms[platform] {
			t.Errorf("%s has no %s image; it has %v", ref, platform, platforms)
			continue
		}
		bin := exportFile(t, crane, ref, platform, "bin/llbgen")
		if got, interp, _ := elfOf(t, bin); got != machine || interp != "" {
			t.Errorf("%s for %s: /bin/llbgen is for %v with interpreter %q, want a static %v binary", ref, platform, got, interp, machine)
		}
	}
}

// TestSyntaxLine: a list whose first line is `# syntax=` the frontend image
// builds with Docker's `docker buildx build -f targets.yaml` on the engine's
// default builder and with `buildctl build --frontend dockerfile.v0` on the
// test bed's buildkitd, into the same bytes as `llbgen build`; both hand the
// frontend its build arguments; a broken list fails both with the CLI's
// positioned message.
func TestSyntaxLine(t *testing.T) {
	bed := testbed.Require(t)
	engine := bed.RequireEngine(t)
	ref := frontendImage(t, bed, engine)
	syntax := "# syntax=" + ref + "\n"
	repoList := readFile(t, "../../targets.yaml")

	// Each way as its user runs it, in the list's directory, writing to out.
	type way struct {
		name string
		// run builds with the build arguments NAME=VALUE.
		run func(ctx context.Context, dir, out string, args ...string) (string, error)
		// says are lines of its log that show the way ran as meant.
		says []string
	}
	ways := []way{{
		name: "docker-buildx-build",
		run: func(ctx context.Context, dir, out string, args ...string) (string, error) {
			cmd := []string{"buildx", "build", "--progress", "plain", "-f", "targets.yaml", "--output", "type=local,dest=" + out}
			for _, a := range args {
				cmd = append(cmd, "--build-arg", a)
			}
			return engine.Run(ctx, dir, nil, append(cmd, ".")...)
		},
		says: []string{dockerDriverLine, "resolve image config for docker-image://" + ref},
	}, {
		name: "buildctl-dockerfile",
		run: func(ctx context.Context, dir, out string, args ...string) (string, error) {
			full := []string{"--addr", bed.Addr, "build", "--progress", "plain",
				"--frontend", "dockerfile.v0", "--local", "dockerfile=.", "--local", "context=.",
				"--opt", "filename=targets.yaml", "--output", "type=local,dest=" + out}
			for _, a := range args {
				full = append(full, "--opt", "build-arg:"+a)
			}
			cmd := exec.CommandContext(ctx, bed.Buildctl, full...)
			cmd.Dir = dir
			b, err := cmd.CombinedOutput()
			return string(b), err
		},
		says: []string{"resolve image config for docker-image://" + ref},
	}}

	t.Run("builds", func(t *testing.T) {
		dir := writeListIn(t, syntax+repoList)
		dirs := map[string]string{"build": filepath.Join(t.TempDir(), "out")}
		cmd := llbgenCmd(t, bed.Addr, "build", "-f", "targets.yaml", "--out", dirs["build"], "--progress", "plain")
		cmd.Dir = dir
		if r := runCmd(t, cmd); r.code != 0 {
			t.Fatalf("llbgen build: exit %d\n%s", r.code, tail(r.stderr, 30))
		}
		for _, w := range ways {
			out := filepath.Join(t.TempDir(), "out")
			log, err := runFor(20*time.Minute, func(ctx context.Context) (string, error) { return w.run(ctx, dir, out) })
			if err != nil {
				t.Errorf("%s: %v\n%s", w.name, err, tail(log, 30))
				continue
			}
			for _, line := range w.says {
				if !strings.Contains(log, line) {
					t.Errorf("%s: its log has no %q:\n%s", w.name, line, tail(log, 30))
				}
			}
			dirs[w.name] = out
		}
		want := listFiles(t, filepath.Join(dir, "targets.yaml"))
		for _, d := range dirs {
			assertFiles(t, d, want)
			assertSums(t, d)
		}
		assertSameOutputs(t, dirs)
	})

	t.Run("build arguments", func(t *testing.T) {
		// The frontend's build arguments reach it through the Dockerfile
		// frontend: TARGETS picks one target of the list.
		dir := writeListIn(t, syntax+repoList)
		list := listFiles(t, filepath.Join(dir, "targets.yaml"))
		name := strings.TrimPrefix(slices.Sorted(maps.Keys(list))[0], targets.BinaryPrefix)
		for _, w := range ways {
			out := filepath.Join(t.TempDir(), "out")
			log, err := runFor(20*time.Minute, func(ctx context.Context) (string, error) {
				return w.run(ctx, dir, out, "TARGETS="+name)
			})
			if err != nil {
				t.Errorf("%s: %v\n%s", w.name, err, tail(log, 30))
				continue
			}
			assertFiles(t, out, map[string]string{targets.BinaryPrefix + name: ""})
		}
	})

	t.Run("broken list", func(t *testing.T) {
		// Line 6, counting the syntax line: the message and the list's line
		// under it come through Docker's Dockerfile frontend, which hands the
		// build to the image.
		dir := writeListIn(t, syntax+"helper:\n  version: v0.12.0\ntargets:\n  - image: docker:19.03.12\n    platfrom: linux/amd64\n")
		for _, w := range ways {
			out := filepath.Join(t.TempDir(), "out")
			log, err := runFor(5*time.Minute, func(ctx context.Context) (string, error) { return w.run(ctx, dir, out) })
			if err == nil {
				t.Errorf("%s built a broken list:\n%s", w.name, tail(log, 30))
				continue
			}
			if !hasLineWith(log, []string{"targets.yaml:6:5: ", "platfrom"}) {
				t.Errorf("%s: no line says targets.yaml:6:5: ... platfrom:\n%s", w.name, tail(log, 30))
			}
			if !hasLineWith(log, []string{"6 | >>>     platfrom: linux/amd64"}) {
				t.Errorf("%s: the list's line 6 is not shown marked >>>:\n%s", w.name, tail(log, 30))
			}
			if entries, _ := os.ReadDir(out); len(entries) > 0 {
				t.Errorf("%s wrote into %s for a broken list: %v", w.name, out, entries)
			}
		}
	})
}

// runFor runs f with a context that ends after d.
func runFor(d time.Duration, f func(context.Context) (string, error)) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return f(ctx)
}

// exportFile writes the file at name in ref's image for platform into a
// temporary file and returns its path.
func exportFile(t *testing.T, crane, ref, platform, name string) string {
	t.Helper()
	cmd := exec.Command(crane, "export", "--insecure", "--platform", platform, ref, "-")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	tr := tar.NewReader(stdout)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("crane export %s (%s): %v: %s", ref, platform, err, stderr.String())
		}
		if strings.TrimPrefix(h.Name, "/") != name {
			continue
		}
		path := filepath.Join(t.TempDir(), filepath.Base(name))
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := io.Copy(f, tr); err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, stdout)
		return path
	}
	t.Fatalf("%s (%s) has no %s", ref, platform, name)
	return ""
}
