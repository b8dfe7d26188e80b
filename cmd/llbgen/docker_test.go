package main

import (
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/llbgen/llbgen/internal/testbed"
	"github.com/llbgen/llbgen/pkg/daemon"
)

// TestBuildOnDocker builds the repository's list (its images are the test
// bed's stand-ins, through the engine's docker.io mirror) on the test bed's
// Docker Engine alone, every way llbgen reaches it, into the same bytes
// `llbgen build` writes on the standalone buildkitd. Run one with
// -run 'TestBuildOnDocker/fallback'.
func TestBuildOnDocker(t *testing.T) {
	bed := testbed.Require(t)
	eng := bed.RequireEngine(t)
	repo := repoCopy(t)
	list := filepath.Join(repo, "targets.yaml")
	files := []string{"SHA256SUMS"}
	for _, n := range []string{"docker_19.03.12", "gitlab-runner_v13.2.1", "gitlab-runner_alpine-v13.2.1"} {
		files = append(files, "docker-credential-ecr-login-"+n, "docker-credential-ecr-login-"+n+".buildinfo")
	}
	slices.Sort(files)

	ref := filepath.Join(t.TempDir(), "out")
	if r := runLLBGen(t, bed.Addr, "build", "-f", list, "--out", ref, "--progress", "plain"); r.code != 0 {
		t.Fatalf("on buildkitd: exit %d\n%s", r.code, tail(r.stderr, 30))
	}
	want := readDir(t, ref)
	if got := slices.Sorted(maps.Keys(want)); !slices.Equal(got, files) {
		t.Fatalf("on buildkitd: wrote %q, want %q", got, files)
	}

	for _, c := range []struct {
		name string
		args []string
		env  []string
		line string // the one line the run says where it builds, if any
	}{
		{name: "addr", args: []string{"--addr", daemon.DockerScheme + eng.Host}},
		{name: "BUILDKIT_HOST", env: []string{"BUILDKIT_HOST=" + daemon.DockerScheme + eng.Host}},
		{name: "addr docker:// with DOCKER_HOST", args: []string{"--addr", daemon.DockerScheme}, env: []string{"DOCKER_HOST=" + eng.Host}},
		{
			// Nothing at the default address, no address given: Docker.
			name: "fallback",
			env:  []string{"DOCKER_HOST=" + eng.Host},
			line: "llbgen: no BuildKit daemon at " + daemon.DefaultAddr + "; building on Docker Engine at " + eng.Host,
		},
		{
			// ssh://, as the docker CLI dials it: `ssh HOST docker system
			// dial-stdio`, here an ssh that runs that docker command on
			// the engine instead of on a remote host.
			name: "ssh",
			args: []string{"--addr", daemon.DockerScheme + "ssh://builder@docker.invalid"},
			env:  []string{"PATH=" + fakeSSH(t, eng) + string(os.PathListSeparator) + os.Getenv("PATH")},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "fallback" {
				requireNoDefaultBuildKit(t)
			}
			out := filepath.Join(t.TempDir(), "out")
			args := append([]string{"build", "-f", list, "--out", out, "--progress", "plain"}, c.args...)
			r := runCmd(t, dockerCmd(t, c.env, args...))
			if r.code != 0 {
				t.Fatalf("exit %d\n%s", r.code, tail(r.stderr, 30))
			}
			var said []string
			for _, l := range strings.Split(r.stderr, "\n") {
				if strings.Contains(l, "BuildKit daemon at") || strings.Contains(l, "building on") {
					said = append(said, l)
				}
			}
			if c.line == "" && len(said) > 0 || c.line != "" && !slices.Equal(said, []string{c.line}) {
				t.Errorf("said %q, want %q", said, c.line)
			}
			got := readDir(t, out)
			if names := slices.Sorted(maps.Keys(got)); !slices.Equal(names, files) {
				t.Fatalf("wrote %q, want %q", names, files)
			}
			for name, f := range want {
				if got[name].data != f.data || !got[name].modTime.Equal(f.modTime) {
					t.Errorf("%s differs from the one built on buildkitd (%d bytes, %s; there %d bytes, %s)",
						name, len(got[name].data), got[name].modTime, len(f.data), f.modTime)
				}
			}
		})
	}

	// `make build` on a machine with Docker alone: no BuildKit daemon is
	// started (the test bed's engine answers the docker CLI), and llbgen
	// falls back to Docker.
	t.Run("make build", func(t *testing.T) {
		requireNoDefaultBuildKit(t)
		bin := t.TempDir()
		if err := os.Symlink(eng.Docker, filepath.Join(bin, "docker")); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("make", "build")
		cmd.Dir = repo
		cmd.Env = dockerEnv(t, cmd.Environ(), "DOCKER_HOST="+eng.Host, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
		r := runCmd(t, cmd)
		if r.code != 0 {
			t.Fatalf("exit %d\n%s\n%s", r.code, tail(r.stdout, 10), tail(r.stderr, 30))
		}
		if line := "llbgen: no BuildKit daemon at " + daemon.DefaultAddr + "; building on Docker Engine at " + eng.Host; !strings.Contains(r.stderr, line+"\n") {
			t.Errorf("stderr lacks %q:\n%s", line, tail(r.stderr, 10))
		}
		requireNoDefaultBuildKit(t)
		got := readDir(t, filepath.Join(repo, "out"))
		for name, f := range want {
			if got[name].data != f.data || !got[name].modTime.Equal(f.modTime) {
				t.Errorf("%s differs from the one built on buildkitd", name)
			}
		}
	})

	// Docker Engine's BuildKit has what --provenance uses (a merge op and
	// attestations: the test bed's engine keeps images in containerd), so
	// the up-front check lets it through.
	t.Run("provenance", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		r := runCmd(t, dockerCmd(t, nil, "build", "-f", list, "--out", out, "--progress", "plain", "--provenance", "--addr", daemon.DockerScheme+eng.Host))
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, tail(r.stderr, 30))
		}
		if _, err := os.Stat(filepath.Join(out, "provenance.json")); err != nil {
			t.Errorf("no attestation: %v", err)
		}
	})

	// The other verbs share the daemon flags and the fallback: a lock made
	// on Docker is the one made on buildkitd.
	t.Run("lock fallback", func(t *testing.T) {
		requireNoDefaultBuildKit(t)
		onBuildKit := filepath.Join(t.TempDir(), "targets.yaml")
		onDocker := filepath.Join(t.TempDir(), "targets.yaml")
		writeFile(t, onBuildKit, readFile(t, list))
		writeFile(t, onDocker, readFile(t, list))
		if r := runLLBGen(t, bed.Addr, "lock", "-f", onBuildKit, "--progress", "plain"); r.code != 0 {
			t.Fatalf("on buildkitd: exit %d\n%s", r.code, tail(r.stderr, 30))
		}
		r := runCmd(t, dockerCmd(t, []string{"DOCKER_HOST=" + eng.Host}, "lock", "-f", onDocker, "--progress", "plain"))
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, tail(r.stderr, 30))
		}
		if !strings.Contains(r.stderr, "building on Docker Engine at "+eng.Host) {
			t.Errorf("the fallback is not said:\n%s", tail(r.stderr, 10))
		}
		if a, b := readFile(t, onBuildKit+".lock"), readFile(t, onDocker+".lock"); a != b {
			t.Errorf("the lock made on Docker differs:\n%s\non buildkitd:\n%s", b, a)
		}
	})
}

// A target that fails on Docker Engine is explained in one line, the line
// it gets on buildkitd: an image that does not exist (a resolve error), and
// a go image whose toolchain does not compile (a failed exec, its vertex
// and log carried through the engine's API).
func TestBuildOnDockerFailureExplained(t *testing.T) {
	bed := testbed.Require(t)
	eng := bed.RequireEngine(t)
	missing := bed.Registry + "/nope/missing:1"
	for _, c := range []struct {
		name, list, binary string
		words              []string
	}{
		{"missing image", standInList(bed, bed.Musl(), missing), "missing_1", []string{missing, "not found"}},
		{"compile fails", strings.Replace(standInList(bed, bed.Musl()), bed.Golang(), bed.GoBroken(), 1), "docker_19.03.12", []string{"compiling the helper", "syntax error"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			list := writeList(t, c.list)
			causes := map[string]string{}
			for way, addr := range map[string]string{"buildkitd": bed.Addr, "docker": daemon.DockerScheme + eng.Host} {
				out := filepath.Join(t.TempDir(), "out")
				r := runCmd(t, dockerCmd(t, []string{"BUILDKIT_HOST=" + addr}, "build", "-f", list, "--out", out, "--progress", "plain"))
				if r.code != 1 {
					t.Fatalf("%s: exit %d, want 1\n%s", way, r.code, tail(r.stderr, 30))
				}
				causes[way] = lineFrom(r.stderr, "  "+c.binary+": ")
				if !hasLineWith(causes[way], c.words) {
					t.Errorf("%s: cause %q lacks %q\n%s", way, causes[way], c.words, tail(r.stderr, 15))
				}
			}
			if causes["docker"] != causes["buildkitd"] {
				t.Errorf("on Docker:    %s\non buildkitd: %s", causes["docker"], causes["buildkitd"])
			}
		})
	}
}

// dockerCmd is llbgen with args in dockerEnv's environment.
func dockerCmd(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := llbgenCmd(t, "", args...)
	cmd.Env = dockerEnv(t, cmd.Env, env...)
	return cmd
}

// dockerEnv is base without anything that names a daemon, Docker context or
// docker CLI configuration of this machine's (a docker CLI configuration of
// its own, empty), plus env.
func dockerEnv(t *testing.T, base []string, env ...string) []string {
	var keep []string
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains([]string{"BUILDKIT_HOST", "BUILDKIT_PROGRESS", "DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"}, name) {
			keep = append(keep, kv)
		}
	}
	return append(append(keep, "DOCKER_CONFIG="+t.TempDir()), env...)
}

// requireNoDefaultBuildKit fails the test when something listens at
// BuildKit's default address: llbgen would rightly build there, and the
// fallback to Docker could not be seen.
func requireNoDefaultBuildKit(t *testing.T) {
	t.Helper()
	path := strings.TrimPrefix(daemon.DefaultAddr, "unix://")
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		t.Fatalf("something answers at %s (a BuildKit daemon started by `make buildkitd`?): with it there, llbgen builds on it and never falls back to Docker; stop it (hack/buildkitd.sh down) to test the fallback", daemon.DefaultAddr)
	}
}

// fakeSSH is a directory holding an ssh that runs its remote command, the
// docker CLI's `docker system dial-stdio`, here as sshd would on a remote
// Docker host, and a docker that is the test bed's docker CLI on its engine.
func fakeSSH(t *testing.T, eng *testbed.Engine) string {
	dir := t.TempDir()
	for name, script := range map[string]string{
		// ssh [OPTIONS] -- HOST COMMAND: the remote shell runs COMMAND.
		"ssh":    "#!/bin/sh\nwhile [ \"$#\" -gt 0 ] && [ \"$1\" != -- ]; do shift; done\nshift 2\nexec sh -c \"$*\"\n",
		"docker": "#!/bin/sh\nexec '" + eng.Docker + "' --host '" + eng.Host + "' \"$@\"\n",
	} {
		writeFile(t, filepath.Join(dir, name), script)
		if err := os.Chmod(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
