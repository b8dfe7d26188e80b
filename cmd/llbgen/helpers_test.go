package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/client/llb"

	"github.com/llbgen/llbgen/internal/testbed"
)

// helperList is a list of the test bed's musl and glibc stand-ins building
// the helper that helpers (a `helpers:` block's body) names.
func helperList(bed *testbed.Bed, helpers string) string {
	return fmt.Sprintf("helpers:\n%sgo: %s\ntargets:\n  - image: %s\n  - image: %s\n", helpers, bed.Golang(), bed.Musl(), bed.Glibc())
}

// Helpers other than ecr-login, from the real modules on the module proxy:
// Google's gcr by name, and Docker's pass given only by module path (a
// custom helper): each builds, is checked in both images, and lands under
// docker-credential-<helper>-<target>. A custom check that wants another
// output fails the build, naming what the binary printed.
func TestBuildOtherHelpers(t *testing.T) {
	bed := testbed.Require(t)
	const dockerHelpers = "github.com/docker/docker-credential-helpers"
	custom := func(expect string) string {
		return "  acme-pass:\n    module: " + dockerHelpers + "\n    package: ./pass/cmd\n    version: v0.9.13\n" +
			"    ldflags: [\"-s\", \"-w\", \"-X " + dockerHelpers + "/credentials.Version={{.Version}}\"]\n" +
			// args given: the check passes them as the stage tool's -arg
			"    check: {args: [version], expect: \"" + expect + "\"}\n"
	}
	for _, tc := range []struct {
		name, helpers, prefix, version string
	}{
		{"gcr", "  gcr: {version: v2.2.1}\n", "docker-credential-gcr-", "2.2.1"},
		{"custom", custom("{{.Version}}"), "docker-credential-acme-pass-", "v0.9.13"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			r := runLLBGen(t, bed.Addr, "build", "-f", writeList(t, helperList(bed, tc.helpers)), "--out", out, "--progress", "plain")
			if r.code != 0 {
				t.Fatalf("exit %d\n%s", r.code, tail(r.stderr, 30))
			}
			files := []string{tc.prefix + "docker_19.03.12", tc.prefix + "gitlab-runner_v13.2.1"}
			assertSumsList(t, out, files...)
			for _, f := range files {
				path := filepath.Join(out, f)
				assertStatic(t, path)
				got, err := exec.Command(path, "version").Output()
				if v := strings.TrimSpace(string(got)); err != nil || !strings.HasSuffix(v, " "+tc.version) {
					t.Errorf("%s version: %q (%v), want it to end in %s", f, v, err, tc.version)
				}
			}
		})
	}
	t.Run("custom check fails", func(t *testing.T) {
		out := t.TempDir()
		r := runLLBGen(t, bed.Addr, "build", "-f", writeList(t, helperList(bed, custom("v9.9.9"))), "--out", out, "--progress", "plain")
		if r.code != 1 || !strings.Contains(r.stderr, `want output ending in "v9.9.9"`) || !strings.Contains(r.stderr, "docker_19.03.12") {
			t.Errorf("exit %d, want 1 naming the target and what the check printed:\n%s", r.code, tail(r.stderr, 12))
		}
		if n := countBinaries(t, out); n != 0 {
			t.Errorf("%d binaries written, want none", n)
		}
	})
}

// One list of three helpers (ecr-login, gcr, and pass as a custom helper)
// for the musl and glibc stand-ins, the musl one building gcr only: every
// binary lands under docker-credential-<helper>-<target> and says its
// version; `llbgen lock` pins the three module versions, and the locked
// build gives the same bytes.
func TestBuildSeveralHelpers(t *testing.T) {
	bed := testbed.Require(t)
	const dh = "github.com/docker/docker-credential-helpers"
	list := writeList(t, fmt.Sprintf(`helpers:
  ecr-login: {version: v0.12.0}
  gcr: {version: v2.2.1}
  acme-pass:
    module: %s
    package: ./pass/cmd
    version: v0.9.13
    ldflags: ["-s", "-w", "-X %s/credentials.Version={{.Version}}"]
go: %s
targets:
  - image: %s
    helpers: [gcr]
  - image: %s
`, dh, dh, bed.Golang(), bed.Musl(), bed.Glibc()))
	out := t.TempDir()
	r := runLLBGen(t, bed.Addr, "build", "-f", list, "--out", out, "--progress", "plain")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, tail(r.stderr, 30))
	}
	want := map[string]string{
		"docker-credential-gcr-docker_19.03.12":             "2.2.1",
		"docker-credential-ecr-login-gitlab-runner_v13.2.1": "0.12.0",
		"docker-credential-gcr-gitlab-runner_v13.2.1":       "2.2.1",
		"docker-credential-acme-pass-gitlab-runner_v13.2.1": "v0.9.13",
	}
	var files []string
	for f, v := range want {
		files = append(files, f)
		got, err := exec.Command(filepath.Join(out, f), "version").Output()
		if s := strings.TrimSpace(string(got)); err != nil || !strings.HasSuffix(s, " "+v) {
			t.Errorf("%s version: %q (%v), want it to end in %s", f, s, err, v)
		}
	}
	sort.Strings(files)
	assertSumsList(t, out, files...)
	sums := readFile(t, filepath.Join(out, "SHA256SUMS"))

	// The pipe and bake build the same bytes under the same names.
	dir, log, err := pipe(t, bed, "-f", list)
	if err != nil {
		t.Fatalf("llbgen | buildctl: %v\n%s", err, tail(log, 20))
	}
	if got := readFile(t, filepath.Join(dir, "SHA256SUMS")); got != sums {
		t.Errorf("the pipe differs:\n%s\nvs llbgen build's\n%s", got, sums)
	}
	x := bed.RequireBuildx(t)
	repo := repoCopy(t)
	writeFile(t, filepath.Join(repo, "helpers.yaml"), readFile(t, list))
	if log, err := bake(t, x, repo, "TARGETS_FILE=helpers.yaml", "OUT=dist"); err != nil {
		t.Fatalf("bake: %v\n%s", err, tail(log, 20))
	}
	if got := readFile(t, filepath.Join(repo, "dist", "SHA256SUMS")); got != sums {
		t.Errorf("bake differs:\n%s\nvs llbgen build's\n%s", got, sums)
	}

	if r := runLLBGen(t, bed.Addr, "lock", "-f", list); r.code != 0 {
		t.Fatalf("lock: exit %d\n%s", r.code, tail(r.stderr, 20))
	}
	lk := readFile(t, list+".lock")
	for _, mod := range []string{"github.com/awslabs/amazon-ecr-credential-helper/ecr-login", "github.com/GoogleCloudPlatform/docker-credential-gcr/v2", dh} {
		if !strings.Contains(lk, "module: "+mod+"\n") {
			t.Errorf("the lock does not pin %s:\n%s", mod, lk)
		}
	}
	locked := t.TempDir()
	r = runLLBGen(t, bed.Addr, "build", "-f", list, "--out", locked, "--locked", "--progress", "plain")
	if r.code != 0 {
		t.Fatalf("locked build: exit %d\n%s", r.code, tail(r.stderr, 20))
	}
	for _, mod := range []string{"github.com/awslabs/amazon-ecr-credential-helper/ecr-login@v0.12.0", "github.com/GoogleCloudPlatform/docker-credential-gcr/v2@v2.2.1", dh + "@v0.9.13"} {
		if !strings.Contains(r.stderr, "check "+mod+" against the lock") {
			t.Errorf("the locked build did not check %s against the lock", mod)
		}
	}
	if got := readFile(t, filepath.Join(locked, "SHA256SUMS")); got != sums {
		t.Errorf("the locked build differs:\n%s\nvs\n%s", got, sums)
	}
}

// secretservice is cgo against each image's libsecret: setup installs the
// headers, and the binary is checked in the image as it is, so the glibc
// stand-in without libsecret fails, naming the missing library, while an
// image with libsecret-1-0 gets a verified binary; the matrix says the same.
func TestBuildSecretservice(t *testing.T) {
	bed := testbed.Require(t)
	withLib := bed.Registry + "/standin/glibc-libsecret:test"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	st := llb.Image(bed.Glibc()).Run(llb.Args([]string{"/bin/sh", "-c",
		"apt-get update -qq && apt-get install -y -qq --no-install-recommends libsecret-1-0 && rm -rf /var/lib/apt/lists/*"})).Root()
	def, err := st.Marshal(ctx, llb.LinuxAmd64)
	if err != nil {
		t.Fatal(err)
	}
	data, err := def.ToPB().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if log, err := bed.Build(ctx, data, "--output", "type=image,name="+withLib+",push=true"); err != nil {
		t.Fatalf("making an image with libsecret: %v\n%s", err, tail(log, 20))
	}
	list := writeList(t, fmt.Sprintf(`helpers:
  secretservice: {version: v0.9.13}
go: %s
targets:
  - image: %s
    name: bare
    setup: [apt-get update -qq, apt-get install -y -qq --no-install-recommends gcc libc6-dev libsecret-1-dev pkg-config]
  - image: %s
    name: with-libsecret
    setup: [apt-get update -qq, apt-get install -y -qq --no-install-recommends gcc libc6-dev libsecret-1-dev pkg-config]
`, bed.Golang(), bed.Glibc(), withLib))
	out := t.TempDir()
	r := runLLBGen(t, bed.Addr, "build", "-f", list, "--out", out, "--progress", "plain")
	// the libraries libsecret needs are missing too
	const missing = "needed libraries libsecret-1.so.0, libgobject-2.0.so.0, libglib-2.0.so.0 are not in the image's library path"
	if r.code != 1 || !strings.Contains(r.stderr, "bare: verify failed: the binary does not run in its image: "+missing) {
		t.Errorf("exit %d, want 1 and %q:\n%s\n%s", r.code, missing, r.stdout, tail(r.stderr, 20))
	}
	assertSumsList(t, out, "docker-credential-secretservice-with-libsecret")
	m := runLLBGen(t, bed.Addr, "matrix", "-f", list, "--progress", "quiet")
	if m.code != 0 || !strings.Contains(m.stdout, "✗ bare in "+bed.Glibc()+": "+missing) || !strings.Contains(m.stdout, "✗ with-libsecret in "+bed.Glibc()+": "+missing) {
		t.Errorf("matrix: exit %d, want it to name the missing library:\n%s\n%s", m.code, m.stdout, tail(m.stderr, 10))
	}
}
