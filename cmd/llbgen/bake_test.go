package main

import (
	"context"
	"debug/elf"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llbgen/llbgen/internal/testbed"
	"github.com/llbgen/llbgen/pkg/lock"
)

// repoCopy copies the repository (without .git, bin, out) into a new
// directory, as a user's clone would be.
func repoCopy(t *testing.T) string {
	t.Helper()
	src, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	err = filepath.Walk(src, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if fi.IsDir() && (rel == ".git" || rel == "bin" || rel == "out") {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fi.Mode().Perm())
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatalf("copying the repository: %v", err)
	}
	return dst
}

func bake(t *testing.T, x *testbed.Buildx, dir string, env ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	return x.Bake(ctx, dir, env)
}

// docker buildx bake at the root of a copy of the repository builds the
// repository's list (stand-in images, through the test bed's mirror) into
// out/, and every binary runs in its image; the same list built the two
// other ways gives byte-identical binaries.
func TestBakeBuildsTheListAndMatchesTheOtherWays(t *testing.T) {
	bed := testbed.Require(t)
	x := bed.RequireBuildx(t)
	repo := repoCopy(t)
	log, err := bake(t, x, repo)
	if err != nil {
		t.Fatalf("buildx bake: %v\n%s", err, tail(log, 30))
	}
	bakeOut := filepath.Join(repo, "out")
	images := map[string]string{
		"docker-credential-ecr-login-docker_19.03.12":              bed.Musl(),
		"docker-credential-ecr-login-gitlab-runner_v13.2.1":        bed.Glibc(),
		"docker-credential-ecr-login-gitlab-runner_alpine-v13.2.1": bed.MuslRunner(),
	}
	assertFiles(t, bakeOut, images)
	assertSums(t, bakeOut)
	for file, image := range images {
		out, status := bed.RunInImage(context.Background(), t, image, filepath.Join(bakeOut, file))
		if status != "0" || !strings.HasSuffix(strings.TrimSpace(out), "0.12.0") {
			t.Errorf("%s in %s: exit %s, printed %q", file, image, status, out)
		}
	}

	list := filepath.Join(repo, "targets.yaml")
	buildOut := t.TempDir()
	if r := runLLBGen(t, bed.Addr, "build", "-f", list, "--out", buildOut, "--progress", "quiet"); r.code != 0 {
		t.Fatalf("llbgen build: exit %d\n%s", r.code, r.stderr)
	}
	pipeOut, plog, err := pipe(t, bed, "-f", list)
	if err != nil {
		t.Fatalf("llbgen | buildctl: %v\n%s", err, tail(plog, 20))
	}
	want := readFile(t, filepath.Join(bakeOut, "SHA256SUMS"))
	for way, dir := range map[string]string{"llbgen build": buildOut, "llbgen | buildctl build": pipeOut} {
		if got := readFile(t, filepath.Join(dir, "SHA256SUMS")); got != want {
			t.Errorf("%s and bake differ:\n%s\nvs\n%s", way, got, want)
		}
		for file := range images {
			if readFile(t, filepath.Join(dir, file)) != readFile(t, filepath.Join(bakeOut, file)) {
				t.Errorf("%s: %s is not byte-identical to bake's", way, file)
			}
		}
	}
}

// Bake's variables: another list, another output directory, a subset.
func TestBakeVariables(t *testing.T) {
	bed := testbed.Require(t)
	x := bed.RequireBuildx(t)
	repo := repoCopy(t)
	writeFile(t, filepath.Join(repo, "ci.yaml"), standInList(bed, bed.Musl(), bed.Glibc()))
	log, err := bake(t, x, repo, "TARGETS_FILE=ci.yaml", "OUT=dist", "TARGETS=gitlab-runner_v13.2.1")
	if err != nil {
		t.Fatalf("buildx bake: %v\n%s", err, tail(log, 30))
	}
	assertFiles(t, filepath.Join(repo, "dist"), map[string]string{"docker-credential-ecr-login-gitlab-runner_v13.2.1": ""})

	log, err = bake(t, x, repo, "TARGETS_FILE=ci.yaml", "TARGETS=nope")
	if err == nil || !strings.Contains(log, `build-arg:TARGETS names "nope", which is not a target of ci.yaml`) {
		t.Errorf("an unknown TARGETS name: err %v, want a message naming it:\n%s", err, tail(log, 15))
	}
}

// A broken list fails through bake with the same positioned message as the
// CLI gives.
func TestBakeBrokenListSameMessageAsCLI(t *testing.T) {
	bed := testbed.Require(t)
	x := bed.RequireBuildx(t)
	repo := repoCopy(t)
	writeFile(t, filepath.Join(repo, "targets.yaml"), "helper:\n  version: v0.12.0\ntargets:\n  - image: docker:19.03.12\n    platfrom: linux/amd64\n")
	t.Chdir(repo)
	code, stdout, stderr := runCLI(t, "")
	if code != 2 || stdout != "" {
		t.Fatalf("CLI: exit %d, stdout %d bytes", code, len(stdout))
	}
	msg := strings.TrimSpace(stderr)
	if !strings.HasPrefix(msg, "targets.yaml:5:5: ") {
		t.Fatalf("CLI message %q is not positioned at 5:5", msg)
	}
	log, err := bake(t, x, repo)
	if err == nil {
		t.Fatalf("bake accepted a broken list:\n%s", tail(log, 20))
	}
	if !strings.Contains(log, msg) {
		t.Errorf("bake's output lacks the CLI's message %q:\n%s", msg, tail(log, 20))
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// With a lock beside the list, the pipe and bake build from it too: the
// module hash is checked and the images are pulled by their locked digests.
func TestLockUsedByPipeAndBake(t *testing.T) {
	bed := testbed.Require(t)
	x := bed.RequireBuildx(t)
	repo := repoCopy(t)
	list := filepath.Join(repo, "targets.yaml")
	if r := runLLBGen(t, bed.Addr, "lock", "-f", list, "--progress", "quiet"); r.code != 0 {
		t.Fatalf("lock: exit %d\n%s", r.code, r.stderr)
	}
	lk, err := lock.Read(lock.Path(list))
	if err != nil {
		t.Fatal(err)
	}
	digest := lk.Images["docker.io/library/docker:19.03.12"]
	_, log, err := pipe(t, bed, "-f", list)
	if err != nil {
		t.Fatalf("pipe: %v\n%s", err, tail(log, 20))
	}
	for _, want := range []string{"check the helper module against the lock", "docker.io/library/docker@" + digest} {
		if !strings.Contains(log, want) {
			t.Errorf("the pipe's build log lacks %q", want)
		}
	}
	log, err = bake(t, x, repo)
	if err != nil {
		t.Fatalf("bake: %v\n%s", err, tail(log, 20))
	}
	if !strings.Contains(log, "check the helper module against the lock") {
		t.Errorf("bake did not use the lock:\n%s", tail(log, 30))
	}
}

// bake's --platform says what targets that name no platforms are built
// for, and the binary is verified in the image of that platform (under the
// test bed's QEMU). The file keeps its plain name. (That the toolchain
// still runs on the builder's platform is TestTargetPlatformCrossCompiles.)
func TestBakePlatformCrossCompiles(t *testing.T) {
	bake := bakeMuslFor(t)
	repo := bake.repo
	log, err := bake.platforms("linux/arm64")
	if err != nil {
		t.Fatalf("buildx bake --set binaries.platform=linux/arm64: %v\n%s", err, tail(log, 30))
	}
	bin := filepath.Join(repo, "out", "docker-credential-ecr-login-docker_19.03.12")
	if machine, interp, _ := elfOf(t, bin); machine != elf.EM_AARCH64 || interp != "" {
		t.Errorf("%s: machine %v interpreter %q, want a static aarch64 binary", bin, machine, interp)
	}
	for _, want := range []string{"compile docker_19.03.12 in", "verify docker_19.03.12 in", "(linux/arm64)"} {
		if !strings.Contains(log, want) {
			t.Errorf("bake log lacks %q", want)
		}
	}
}

// Several --platform values: every one is built, not only the first, each
// binary named for its platform; a platform Go cannot build is refused,
// naming it.
func TestBakeEveryPlatform(t *testing.T) {
	bake := bakeMuslFor(t)
	repo := bake.repo
	log, err := bake.platforms("linux/amd64,linux/arm64")
	if err != nil {
		t.Fatalf("buildx bake --set binaries.platform=linux/amd64,linux/arm64: %v\n%s", err, tail(log, 30))
	}
	for bin, want := range map[string]elf.Machine{
		"docker-credential-ecr-login-docker_19.03.12-linux-amd64": elf.EM_X86_64,
		"docker-credential-ecr-login-docker_19.03.12-linux-arm64": elf.EM_AARCH64,
	} {
		if machine, _, _ := elfOf(t, filepath.Join(repo, "out", bin)); machine != want {
			t.Errorf("%s: machine %v, want %v", bin, machine, want)
		}
	}
	sums := readFile(t, filepath.Join(repo, "out", "SHA256SUMS"))
	if n := strings.Count(sums, "\n"); n != 2 {
		t.Errorf("SHA256SUMS lists %d files, want 2:\n%s", n, sums)
	}

	log, err = bake.platforms("linux/amd64,windows/amd64")
	if err == nil || !strings.Contains(log, `--platform: platform "windows/amd64" is not Linux`) {
		t.Errorf("bake for windows/amd64: %v, want a refusal naming it\n%s", err, tail(log, 20))
	}
}

// muslBake is a repository copy whose ci.yaml lists the musl stand-in, for
// bake with --platform.
type muslBake struct {
	repo string
	x    *testbed.Buildx
	ctx  context.Context
}

func bakeMuslFor(t *testing.T) *muslBake {
	t.Helper()
	bed := testbed.Require(t)
	x := bed.RequireBuildx(t)
	repo := repoCopy(t)
	writeFile(t, filepath.Join(repo, "ci.yaml"), standInList(bed, bed.Musl()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	t.Cleanup(cancel)
	return &muslBake{repo: repo, x: x, ctx: ctx}
}

// platforms bakes ci.yaml with binaries.platform set to ps (the frontend
// itself for linux/amd64) and returns bake's log.
func (b *muslBake) platforms(ps string) (string, error) {
	return b.x.Bake(b.ctx, b.repo, []string{"TARGETS_FILE=ci.yaml"},
		"--set", "frontend.platform=linux/amd64", "--set", "binaries.platform="+ps)
}
