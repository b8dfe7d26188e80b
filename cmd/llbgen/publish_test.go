package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llbgen/llbgen/internal/testbed"
	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/publish"
)

// publishList is a list that publishes job images (a two-platform musl
// target, a glibc one whose USER is nobody) and the helpers image, under
// registry/ns, with config.json for one ECR registry.
func publishList(bed *testbed.Bed, ns string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `helper:
  version: v0.12.0
go: %s
publish:
  images: "%s/%s/{repo}:{tag}-ecr-login"
  helpers: "%s/%s/ecr-login-helpers:{version}"
  credHelpers: [123456789012.dkr.ecr.us-east-1.amazonaws.com]
targets:
  - image: %s
    platforms: [linux/amd64, linux/arm64]
  - image: %s
`, bed.Golang(), bed.Registry, ns, bed.Registry, ns, bed.Musl(), bed.Glibc())
	for _, img := range extra {
		fmt.Fprintf(&b, "  - image: %s\n", img)
	}
	return b.String()
}

// Images out, the three ways: `llbgen build --push` pushes every job image
// (multi-platform where the target is) and the helpers image; each job
// image keeps its target image's config and layers, adds the verified
// binary, config.json and the labels, and runs its helper on the test
// bed's Docker Engine; `--load` loads one into the engine from the
// standalone daemon; the pipe exports the helpers image; the frontend
// (bake) gives both kinds with the names of the list.
func TestPublishedImages(t *testing.T) {
	bed := testbed.Require(t)
	eng := bed.RequireEngine(t)
	crane := testbed.RequireCrane(t)
	ns := fmt.Sprintf("llbgen-test/publish-%d", time.Now().UnixNano())
	dir := t.TempDir()
	file := filepath.Join(dir, "targets.yaml")
	writeFile(t, file, publishList(bed, ns))
	out := filepath.Join(dir, "out")

	r := runLLBGen(t, bed.Addr, "build", "-f", file, "--out", out, "--push", "--progress", "plain")
	if r.code != 0 {
		t.Fatalf("llbgen build --push: exit %d\n%s", r.code, tail(r.stderr, 40))
	}
	musl := fmt.Sprintf("%s/%s/library/docker:19.03.12-ecr-login", bed.Registry, ns)
	glibc := fmt.Sprintf("%s/%s/gitlab/gitlab-runner:v13.2.1-ecr-login", bed.Registry, ns)
	helpers := fmt.Sprintf("%s/%s/ecr-login-helpers:v0.12.0", bed.Registry, ns)
	for _, line := range []string{
		"job image of docker_19.03.12 " + musl + ": pushed (sha256:",
		"job image of gitlab-runner_v13.2.1 " + glibc + ": pushed (sha256:",
		"helpers image " + helpers + ": pushed (sha256:",
	} {
		if !strings.Contains(r.stderr, line) {
			t.Errorf("the summary does not say %q:\n%s", line, tail(r.stderr, 10))
		}
	}

	checkJobImage(t, crane, musl, bed.Musl(), out, map[string]string{
		"linux/amd64": "docker-credential-ecr-login-docker_19.03.12-linux-amd64",
		"linux/arm64": "docker-credential-ecr-login-docker_19.03.12-linux-arm64",
	}, "/root")
	checkJobImage(t, crane, glibc, bed.Glibc(), out, map[string]string{
		"linux/amd64": "docker-credential-ecr-login-gitlab-runner_v13.2.1",
	}, "/nonexistent") // the stand-in runs as nobody, whose home that is
	checkHelpersImage(t, crane, helpers, out, "linux/amd64", "linux/arm64")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// A pushed job image runs its helper on Docker, as a CI job would.
	if got, err := eng.Run(ctx, "", nil, "run", "--rm", musl, "docker-credential-ecr-login", "version"); err != nil || !strings.Contains(got, "0.12.0") {
		t.Errorf("docker run %s docker-credential-ecr-login version: %v\n%s", musl, err, got)
	}

	t.Run("load", func(t *testing.T) {
		// From the standalone daemon into the engine DOCKER_HOST names:
		// every image, a multi-platform one too (an OCI tarball: docker's
		// holds one platform).
		file := filepath.Join(t.TempDir(), "targets.yaml")
		writeFile(t, file, publishList(bed, ns+"-load"))
		cmd := llbgenCmd(t, bed.Addr, "build", "-f", file, "--out", t.TempDir(), "--load", "--progress", "plain")
		cmd.Env = append(cmd.Env, "DOCKER_HOST="+eng.Host)
		r := runCmd(t, cmd)
		musl := fmt.Sprintf("%s/%s-load/library/docker:19.03.12-ecr-login", bed.Registry, ns)
		glibc := fmt.Sprintf("%s/%s-load/gitlab/gitlab-runner:v13.2.1-ecr-login", bed.Registry, ns)
		helpers := fmt.Sprintf("%s/%s-load/ecr-login-helpers:v0.12.0", bed.Registry, ns)
		for _, line := range []string{"job image of docker_19.03.12 " + musl + ": loaded (sha256:", "job image of gitlab-runner_v13.2.1 " + glibc + ": loaded (sha256:", "helpers image " + helpers + ": loaded (sha256:"} {
			if r.code != 0 || !strings.Contains(r.stderr, line) {
				t.Fatalf("llbgen build --load: exit %d, no %q\n%s", r.code, line, tail(r.stderr, 20))
			}
		}
		for _, img := range []string{musl, glibc} {
			got, err := eng.Run(ctx, "", nil, "run", "--rm", "--pull", "never", img, "docker-credential-ecr-login", "version")
			if err != nil || !strings.Contains(got, "0.12.0") {
				t.Errorf("docker run --pull never %s: %v\n%s", img, err, got)
			}
		}
		if out, err := exec.Command(crane, "manifest", musl).CombinedOutput(); err == nil {
			t.Errorf("--load pushed %s:\n%s", musl, out)
		}
	})

	t.Run("load without Docker", func(t *testing.T) {
		// Refused before anything is built: nothing to load into.
		out := t.TempDir()
		cmd := llbgenCmd(t, bed.Addr, "build", "-f", file, "--out", out, "--load", "--progress", "plain")
		cmd.Env = append(cmd.Env, "DOCKER_HOST=unix://"+filepath.Join(t.TempDir(), "none.sock"))
		r := runCmd(t, cmd)
		if r.code != 1 || !strings.Contains(r.stderr, "--load loads into Docker Engine at unix://") || strings.Contains(r.stderr, "TARGET") {
			t.Errorf("exit %d, want 1 and the --load refusal before any build:\n%s", r.code, tail(r.stderr, 10))
		}
		if entries, _ := os.ReadDir(out); len(entries) > 0 {
			t.Errorf("wrote %d files", len(entries))
		}
	})

	t.Run("docker://", func(t *testing.T) {
		// On Docker alone: the engine's own exporter pushes and stores.
		file := filepath.Join(t.TempDir(), "targets.yaml")
		writeFile(t, file, publishList(bed, ns+"-engine"))
		r := runLLBGen(t, "docker://"+eng.Host, "build", "-f", file, "--out", t.TempDir(), "--push", "--load", "--publish", "docker_19.03.12", "--progress", "plain")
		img := fmt.Sprintf("%s/%s-engine/library/docker:19.03.12-ecr-login", bed.Registry, ns)
		if r.code != 0 || !strings.Contains(r.stderr, "job image of docker_19.03.12 "+img+": pushed and loaded (sha256:") {
			t.Fatalf("llbgen build --addr docker:// --push --load: exit %d\n%s", r.code, tail(r.stderr, 20))
		}
		checkJobImage(t, crane, img, bed.Musl(), out, map[string]string{
			"linux/amd64": "docker-credential-ecr-login-docker_19.03.12-linux-amd64",
			"linux/arm64": "docker-credential-ecr-login-docker_19.03.12-linux-arm64",
		}, "/root")
		got, err := eng.Run(ctx, "", nil, "run", "--rm", "--pull", "never", img, "docker-credential-ecr-login", "version")
		if err != nil || !strings.Contains(got, "0.12.0") {
			t.Errorf("docker run --pull never %s: %v\n%s", img, err, got)
		}
	})

	t.Run("pipe", func(t *testing.T) {
		name := fmt.Sprintf("%s/%s/pipe-helpers:v0.12.0", bed.Registry, ns)
		r := runPipe(t, bed.Buildctl, bed.Addr, "", "type=image,name="+name+",push=true,oci-mediatypes=true", nil, "-f", file)
		if r.code != 0 {
			t.Fatalf("llbgen | buildctl build --output type=image: llbgen exit %d, buildctl exit %d\n%s", r.llbgen, r.buildctl, tail(r.log, 30))
		}
		checkHelpersImage(t, crane, name, out, "linux/amd64")
	})

	t.Run("buildctl # syntax=", func(t *testing.T) {
		// A job image through buildctl: the frontend, named by the list's
		// first line, makes it; the image exporter takes its name.
		dir := writeListIn(t, "# syntax="+frontendImage(t, bed, eng)+"\n"+publishList(bed, ns+"-syntax"))
		cmd := exec.Command(bed.Buildctl, "--addr", bed.Addr, "build", "--progress", "plain",
			"--frontend", "dockerfile.v0", "--local", "dockerfile=.", "--local", "context=.", "--opt", "filename=targets.yaml",
			"--opt", "build-arg:PUBLISH=gitlab-runner_v13.2.1", "--output", "type=image,name=*,push=true,oci-mediatypes=true")
		cmd.Dir = dir
		if log, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("buildctl build --frontend dockerfile.v0 PUBLISH=gitlab-runner_v13.2.1: %v\n%s", err, tail(string(log), 30))
		}
		checkJobImage(t, crane, fmt.Sprintf("%s/%s-syntax/gitlab/gitlab-runner:v13.2.1-ecr-login", bed.Registry, ns), bed.Glibc(), out, map[string]string{
			"linux/amd64": "docker-credential-ecr-login-gitlab-runner_v13.2.1",
		}, "/nonexistent")
	})

	t.Run("bake", func(t *testing.T) {
		x := bed.RequireBuildx(t)
		repo := repoCopy(t)
		writeFile(t, filepath.Join(repo, "targets.yaml"), publishList(bed, ns+"-bake"))
		if log, err := bakeImages(t, x, repo, publish.HelpersImage+",docker_19.03.12"); err != nil {
			t.Fatalf("bake images: %v\n%s", err, tail(log, 30))
		}
		checkHelpersImage(t, crane, fmt.Sprintf("%s/%s-bake/ecr-login-helpers:v0.12.0", bed.Registry, ns), out, "linux/amd64", "linux/arm64")
		checkJobImage(t, crane, fmt.Sprintf("%s/%s-bake/library/docker:19.03.12-ecr-login", bed.Registry, ns), bed.Musl(), out, map[string]string{
			"linux/amd64": "docker-credential-ecr-login-docker_19.03.12-linux-amd64",
			"linux/arm64": "docker-credential-ecr-login-docker_19.03.12-linux-arm64",
		}, "/root")
	})

	t.Run("bake on Docker's default builder", func(t *testing.T) {
		// The docker driver's image exporter stores into the engine, and
		// takes no name=* (Docker's exporter parses the name first): one
		// image, named; PUSH=false: it runs there, pushed nowhere.
		repo := repoCopy(t)
		writeFile(t, filepath.Join(repo, "targets.yaml"), publishList(bed, ns+"-docker-driver"))
		img := fmt.Sprintf("%s/%s-docker-driver/runner:named", bed.Registry, ns)
		log, err := eng.Run(ctx, repo, []string{"IMAGES=gitlab-runner_v13.2.1", "IMAGE_NAME=" + img, "PUSH=false"}, "buildx", "bake", "--progress", "plain", "images")
		if err != nil {
			t.Fatalf("docker buildx bake images: %v\n%s", err, tail(log, 30))
		}
		got, err := eng.Run(ctx, "", nil, "run", "--rm", "--pull", "never", img, "docker-credential-ecr-login", "version")
		if err != nil || !strings.Contains(got, "0.12.0") {
			t.Errorf("docker run --pull never %s: %v\n%s", img, err, got)
		}
		if out, err := exec.Command(crane, "manifest", img).CombinedOutput(); err == nil {
			t.Errorf("PUSH=false pushed %s:\n%s", img, out)
		}
	})
}

// A job image is published only when its binaries were verified, and the
// helpers image only when every binary was written: a failed target costs
// its own job image and the helpers image, named in the summary, and the
// run exits 1.
func TestFailedTargetIsNotPublished(t *testing.T) {
	bed := testbed.Require(t)
	ns := fmt.Sprintf("llbgen-test/failed-%d", time.Now().UnixNano())
	missing := bed.Registry + "/standin/no-such-image:1"
	file := writeList(t, publishList(bed, ns, missing))
	r := runLLBGen(t, bed.Addr, "build", "-f", file, "--out", t.TempDir(), "--push", "--progress", "plain")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, tail(r.stderr, 20))
	}
	for _, line := range []string{
		fmt.Sprintf("job image of docker_19.03.12 %s/%s/library/docker:19.03.12-ecr-login: pushed", bed.Registry, ns),
		fmt.Sprintf("job image of no-such-image_1 %s/%s/standin/no-such-image:1-ecr-login: not published: no-such-image_1 failed", bed.Registry, ns),
		fmt.Sprintf("helpers image %s/%s/ecr-login-helpers:v0.12.0: not published: no-such-image_1 failed", bed.Registry, ns),
	} {
		if !strings.Contains(r.stderr, line) {
			t.Errorf("the summary does not say %q:\n%s", line, tail(r.stderr, 12))
		}
	}
}

// A push that fails is the image's failure, in one line, and the run
// exits 1 though every binary landed.
func TestFailedPushExplainsItself(t *testing.T) {
	bed := testbed.Require(t)
	closed := closedPort(t)
	file := writeList(t, fmt.Sprintf("helper: {version: v0.12.0}\ngo: %s\npublish: {helpers: \"%s/h:{version}\"}\ntargets:\n  - image: %s\n", bed.Golang(), closed, bed.Musl()))
	r := runLLBGen(t, bed.Addr, "build", "-f", file, "--out", t.TempDir(), "--push", "--progress", "plain")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, tail(r.stderr, 20))
	}
	want := "helpers image " + closed + "/h:v0.12.0: push failed: "
	i := strings.Index(r.stderr, want)
	if i < 0 || !strings.Contains(r.stderr, "llbgen: 1 of 1 images not published") {
		t.Fatalf("the summary does not say %q and that 1 of 1 images was not published:\n%s", want, tail(r.stderr, 10))
	}
	line, _, _ := strings.Cut(r.stderr[i:], "\n")
	if !strings.Contains(line, "connection refused") {
		t.Errorf("the cause does not say why: %s", line)
	}
}

// Images are made of what landed: a binary the output directory refuses
// (a directory at its name) publishes neither its job image nor the
// helpers image, and nothing of it is pushed; the others are.
func TestRefusedBinaryIsNotPublished(t *testing.T) {
	bed := testbed.Require(t)
	crane := testbed.RequireCrane(t)
	ns := fmt.Sprintf("llbgen-test/refused-%d", time.Now().UnixNano())
	file := writeList(t, publishList(bed, ns))
	out := t.TempDir()
	if err := os.Mkdir(filepath.Join(out, "docker-credential-ecr-login-gitlab-runner_v13.2.1"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := runLLBGen(t, bed.Addr, "build", "-f", file, "--out", out, "--push", "--progress", "plain")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, tail(r.stderr, 20))
	}
	glibc := fmt.Sprintf("%s/%s/gitlab/gitlab-runner:v13.2.1-ecr-login", bed.Registry, ns)
	for _, line := range []string{
		fmt.Sprintf("job image of docker_19.03.12 %s/%s/library/docker:19.03.12-ecr-login: pushed", bed.Registry, ns),
		"job image of gitlab-runner_v13.2.1 " + glibc + ": not published: gitlab-runner_v13.2.1 failed",
		fmt.Sprintf("helpers image %s/%s/ecr-login-helpers:v0.12.0: not published: gitlab-runner_v13.2.1 failed", bed.Registry, ns),
	} {
		if !strings.Contains(r.stderr, line) {
			t.Errorf("the summary does not say %q:\n%s", line, tail(r.stderr, 12))
		}
	}
	if got, err := exec.Command(crane, "manifest", glibc).CombinedOutput(); err == nil {
		t.Errorf("%s was pushed though its binary did not land:\n%s", glibc, got)
	}
}

// A target image with symlinks where a job image's files go (the helper's
// path to config.json, config.json to the helper) gets regular files
// there: the helper's bytes and config.json, neither written through the
// other.
func TestJobImageOverSymlinks(t *testing.T) {
	bed := testbed.Require(t)
	crane := testbed.RequireCrane(t)
	// The glibc stand-in runs as nobody, whose home is /nonexistent.
	hostile := bed.AppendLayer(t, bed.Glibc(), "llbgen-test/symlinks",
		testbed.LayerFile{Header: tar.Header{Name: "usr/local/bin/", Typeflag: tar.TypeDir, Mode: 0o755}},
		testbed.LayerFile{Header: tar.Header{Name: "usr/local/bin/docker-credential-ecr-login", Typeflag: tar.TypeSymlink, Linkname: "/nonexistent/.docker/config.json"}},
		testbed.LayerFile{Header: tar.Header{Name: "nonexistent/.docker/", Typeflag: tar.TypeDir, Mode: 0o755}},
		testbed.LayerFile{Header: tar.Header{Name: "nonexistent/.docker/config.json", Typeflag: tar.TypeSymlink, Linkname: "/usr/local/bin/docker-credential-ecr-login"}})
	ns := fmt.Sprintf("llbgen-test/symlinks-%d", time.Now().UnixNano())
	file := writeList(t, fmt.Sprintf("helper: {version: v0.12.0}\ngo: %s\npublish:\n  images: \"%s/%s/job:{name}\"\n  credHelpers: [123456789012.dkr.ecr.us-east-1.amazonaws.com]\ntargets:\n  - {image: %s, name: hostile}\n", bed.Golang(), bed.Registry, ns, hostile))
	out := t.TempDir()
	r := runLLBGen(t, bed.Addr, "build", "-f", file, "--out", out, "--push", "--progress", "plain")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, tail(r.stderr, 20))
	}
	checkJobImage(t, crane, fmt.Sprintf("%s/%s/job:hostile", bed.Registry, ns), hostile, out, map[string]string{
		"linux/amd64": "docker-credential-ecr-login-hostile",
	}, "/nonexistent")

	// A directory symlinked onto config.json's path: what is written in
	// one is removed with the other. The image is not published, and the
	// summary says why.
	displacing := bed.AppendLayer(t, bed.Glibc(), "llbgen-test/symlinks",
		testbed.LayerFile{Header: tar.Header{Name: "usr/local/", Typeflag: tar.TypeDir, Mode: 0o755}},
		testbed.LayerFile{Header: tar.Header{Name: "usr/local/bin", Typeflag: tar.TypeSymlink, Linkname: "/nonexistent/.docker/config.json"}})
	file = writeList(t, fmt.Sprintf("helper: {version: v0.12.0}\ngo: %s\npublish:\n  images: \"%s/%s/job:{name}\"\n  credHelpers: [123456789012.dkr.ecr.us-east-1.amazonaws.com]\ntargets:\n  - {image: %s, name: displacing}\n", bed.Golang(), bed.Registry, ns, displacing))
	r = runLLBGen(t, bed.Addr, "build", "-f", file, "--out", t.TempDir(), "--push", "--progress", "plain")
	want := fmt.Sprintf("job image of displacing %s/%s/job:displacing: push failed: ", bed.Registry, ns)
	if r.code != 1 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "is not the verified binary once written there") {
		t.Errorf("exit %d, want 1 and %q ... is not the verified binary:\n%s", r.code, want, tail(r.stderr, 8))
	}
	if got, err := exec.Command(crane, "manifest", fmt.Sprintf("%s/%s/job:displacing", bed.Registry, ns)).CombinedOutput(); err == nil {
		t.Errorf("the displaced job image was pushed:\n%s", got)
	}
}

// closedPort is a loopback host:port nothing listens on (just closed).
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// --push and --load need a publish: block, and --publish names what it
// has; both are refused before anything is contacted (exit 2).
func TestPublishBadInput(t *testing.T) {
	noPublish := writeList(t, "helper: {version: v0.12.0}\ntargets:\n  - image: docker:19.03.12\n")
	withPublish := writeList(t, "helper: {version: v0.12.0}\npublish: {helpers: \"registry.example.com/h:{version}\"}\ntargets:\n  - image: docker:19.03.12\n")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"build", "-f", noPublish, "--push"}, "has none; add e.g. `publish:"},
		{[]string{"build", "-f", withPublish, "--load", "--publish", "nope"}, `--publish: no image "nope" to publish`},
		{[]string{"build", "-f", withPublish, "--publish", "helpers"}, "--publish says which images to push or load: add --push or --load"},
	} {
		r := runLLBGen(t, "unix:///nonexistent/buildkitd.sock", c.args...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("llbgen %s: exit %d, want 2 and %q:\n%s", strings.Join(c.args, " "), r.code, c.want, r.stderr)
		}
	}
}

func runCrane(t *testing.T, crane string, args ...string) []byte {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(crane, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("crane %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// imageConfig is the part of an image config the tests compare.
type imageConfig struct {
	Config struct {
		Env        []string          `json:"Env"`
		Entrypoint []string          `json:"Entrypoint"`
		Cmd        []string          `json:"Cmd"`
		User       string            `json:"User"`
		WorkingDir string            `json:"WorkingDir"`
		Labels     map[string]string `json:"Labels"`
	} `json:"config"`
	RootFS struct {
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

func craneConfig(t *testing.T, crane, ref, platform string) imageConfig {
	t.Helper()
	var c imageConfig
	if err := json.Unmarshal(runCrane(t, crane, "config", "--platform", platform, ref), &c); err != nil {
		t.Fatalf("config of %s (%s): %v", ref, platform, err)
	}
	return c
}

// imageFiles reads an image's files (its flattened file system) on one
// platform.
func imageFiles(t *testing.T, crane, ref, platform string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(runCrane(t, crane, "export", "--platform", platform, ref, "-")))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatalf("reading %s (%s): %v", ref, platform, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files["/"+strings.TrimPrefix(h.Name, "/")] = data
	}
}

// checkJobImage checks the job image ref: one manifest per platform of
// bins (platform -> the binary's file in out), each holding that binary at
// graph.HelperPath and config.json under home, with its target image's
// config and layers kept and the labels added.
func checkJobImage(t *testing.T, crane, ref, base, out string, bins map[string]string, home string) {
	t.Helper()
	var index struct {
		MediaType string
		Manifests []struct {
			Platform struct{ OS, Architecture string }
		}
	}
	if err := json.Unmarshal(runCrane(t, crane, "manifest", ref), &index); err != nil {
		t.Fatal(err)
	}
	checkOCI(t, ref, index.MediaType)
	var got []string
	for _, m := range index.Manifests {
		got = append(got, m.Platform.OS+"/"+m.Platform.Architecture)
	}
	if len(bins) > 1 && !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(mapKeys(bins))) {
		t.Errorf("%s has platforms %q, want %q", ref, got, slices.Sorted(mapKeys(bins)))
	}
	for platform, file := range bins {
		want, err := os.ReadFile(filepath.Join(out, file))
		if err != nil {
			t.Fatal(err)
		}
		files := imageFiles(t, crane, ref, platform)
		if !bytes.Equal(files[graph.HelperPath], want) {
			t.Errorf("%s (%s): %s is not %s (%d bytes, want %d)", ref, platform, graph.HelperPath, file, len(files[graph.HelperPath]), len(want))
		}
		var cfg struct{ CredHelpers map[string]string }
		if err := json.Unmarshal(files[home+"/.docker/config.json"], &cfg); err != nil || cfg.CredHelpers["123456789012.dkr.ecr.us-east-1.amazonaws.com"] != "ecr-login" {
			t.Errorf("%s (%s): %s/.docker/config.json: %v %q", ref, platform, home, err, files[home+"/.docker/config.json"])
		}
		job, src := craneConfig(t, crane, ref, platform), craneConfig(t, crane, base, platform)
		labels := job.Config.Labels
		job.Config.Labels, src.Config.Labels = nil, nil
		if fmt.Sprint(job.Config) != fmt.Sprint(src.Config) {
			t.Errorf("%s (%s): config %+v, want its image's %+v", ref, platform, job.Config, src.Config)
		}
		if len(job.RootFS.DiffIDs) != len(src.RootFS.DiffIDs)+1 || !slices.Equal(job.RootFS.DiffIDs[:len(src.RootFS.DiffIDs)], src.RootFS.DiffIDs) {
			t.Errorf("%s (%s): layers %q, want its image's %q and one more", ref, platform, job.RootFS.DiffIDs, src.RootFS.DiffIDs)
		}
		baseDigest := strings.TrimSpace(string(runCrane(t, crane, "digest", base)))
		for k, v := range map[string]string{
			publish.LabelVersion:                   "v0.12.0",
			publish.LabelModule:                    "github.com/awslabs/amazon-ecr-credential-helper/ecr-login",
			"org.opencontainers.image.base.name":   base,
			"org.opencontainers.image.base.digest": baseDigest,
		} {
			if labels[k] != v {
				t.Errorf("%s (%s): label %s=%q, want %q", ref, platform, k, labels[k], v)
			}
		}
	}
}

// checkOCI checks that ref's manifest (or index), of mediaType, has OCI's
// media types, as every way of publishing asks, so that a pushed image and
// its loaded copy have one digest.
func checkOCI(t *testing.T, ref, mediaType string) {
	t.Helper()
	if !strings.HasPrefix(mediaType, "application/vnd.oci.image.") {
		t.Errorf("%s has media type %q, want OCI's (oci-mediatypes=true)", ref, mediaType)
	}
}

// checkHelpersImage checks that the helpers image holds, on each of
// platforms, exactly the files of out: every binary, its build
// information and SHA256SUMS.
func checkHelpersImage(t *testing.T, crane, ref, out string, platforms ...string) {
	t.Helper()
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var manifest struct{ MediaType string }
	if err := json.Unmarshal(runCrane(t, crane, "manifest", ref), &manifest); err != nil {
		t.Fatal(err)
	}
	checkOCI(t, ref, manifest.MediaType)
	for _, p := range platforms {
		files := imageFiles(t, crane, ref, p)
		if len(files) != len(entries) {
			t.Errorf("%s (%s) holds %d files, %s %d", ref, p, len(files), out, len(entries))
		}
		for _, e := range entries {
			want, err := os.ReadFile(filepath.Join(out, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(files["/"+e.Name()], want) {
				t.Errorf("%s (%s): /%s differs from %s", ref, p, e.Name(), filepath.Join(out, e.Name()))
			}
		}
	}
}

// bakeImages runs docker-bake.hcl's images target with IMAGES=what on the
// test bed's remote builder: each image pushed under the list's name.
func bakeImages(t *testing.T, x *testbed.Buildx, dir, what string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	return x.Bake(ctx, dir, []string{"IMAGES=" + what}, "images")
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// A push that went and a load that failed are both said, on the image's
// one line: the load's cause from the engine's answer. The engine (a fake
// here, to fail on purpose) is given the whole tarball: a load ends only
// once the export did.
func TestFailedLoadKeepsThePush(t *testing.T) {
	bed := testbed.Require(t)
	crane := testbed.RequireCrane(t)
	ns := fmt.Sprintf("llbgen-test/load-fails-%d", time.Now().UnixNano())
	name := fmt.Sprintf("%s/%s/h:v0.12.0", bed.Registry, ns)
	file := writeList(t, fmt.Sprintf("helper: {version: v0.12.0}\ngo: %s\npublish: {helpers: \"%s/%s/h:{version}\"}\ntargets:\n  - image: %s\n", bed.Golang(), bed.Registry, ns, bed.Musl()))
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	loaded := make(chan []string, 1) // the tarball's file names
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.44")
		switch {
		case r.URL.Path == "/_ping":
			w.Write([]byte("OK"))
		case strings.HasSuffix(r.URL.Path, "/images/load"):
			var names []string
			tr := tar.NewReader(r.Body)
			for {
				h, err := tr.Next()
				if err != nil {
					if !errors.Is(err, io.EOF) {
						names = append(names, "error: "+err.Error())
					}
					break
				}
				names = append(names, h.Name)
			}
			loaded <- names
			w.Write([]byte(`{"stream":"Loading layer"}` + "\n" + `{"errorDetail":{"message":"write /var/lib/docker: no space left on device"},"error":"write /var/lib/docker: no space left on device"}` + "\n"))
		default:
			http.NotFound(w, r)
		}
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	cmd := llbgenCmd(t, bed.Addr, "build", "-f", file, "--out", t.TempDir(), "--push", "--load", "--progress", "plain")
	cmd.Env = append(cmd.Env, "DOCKER_HOST=unix://"+sock)
	r := runCmd(t, cmd)
	want := "helpers image " + name + ": pushed (sha256:"
	i := strings.Index(r.stderr, want)
	if r.code != 1 || i < 0 {
		t.Fatalf("exit %d, want 1 and %q:\n%s", r.code, want, tail(r.stderr, 10))
	}
	line, _, _ := strings.Cut(r.stderr[i:], "\n")
	if !strings.Contains(line, "; load failed: loading into Docker Engine at unix://"+sock+": write /var/lib/docker: no space left on device") {
		t.Errorf("the line does not say the load failed and why: %s", line)
	}
	if _, err := exec.Command(crane, "manifest", name).CombinedOutput(); err != nil {
		t.Errorf("the push did not happen: %v", err)
	}
	select {
	case names := <-loaded:
		if !slices.Contains(names, "manifest.json") || !slices.Contains(names, "index.json") || slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "error: ") }) {
			t.Errorf("the engine was given no whole docker tarball: %q", names)
		}
	default:
		t.Error("nothing was loaded")
	}
}
