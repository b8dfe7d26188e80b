package main

import (
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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
			out := filepath.Join(t.TempDir(), "out")
			args := append([]string{"build", "-f", list, "--out", out, "--progress", "plain"}, c.args...)
			cmd := dockerCmd(t, c.env, args...)
			if c.name == "fallback" {
				withoutDefaultBuildKit(t, cmd)
			}
			r := runCmd(t, cmd)
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
	// falls back to Docker. One that `make build` started at the default
	// address would have failed there (read-only), failing the run.
	t.Run("make build", func(t *testing.T) {
		bin := t.TempDir()
		if err := os.Symlink(eng.Docker, filepath.Join(bin, "docker")); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("make", "build")
		cmd.Dir = repo
		cmd.Env = dockerEnv(t, cmd.Environ(), "DOCKER_HOST="+eng.Host, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
		withoutDefaultBuildKit(t, cmd)
		r := runCmd(t, cmd)
		if r.code != 0 {
			t.Fatalf("exit %d\n%s\n%s", r.code, tail(r.stdout, 10), tail(r.stderr, 30))
		}
		if line := "llbgen: no BuildKit daemon at " + daemon.DefaultAddr + "; building on Docker Engine at " + eng.Host; !strings.Contains(r.stderr, line+"\n") {
			t.Errorf("stderr lacks %q:\n%s", line, tail(r.stderr, 10))
		}
		if strings.Contains(r.stderr, "starting buildkitd") {
			t.Errorf("make build tried to start a BuildKit daemon:\n%s", tail(r.stderr, 10))
		}
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
		onBuildKit := filepath.Join(t.TempDir(), "targets.yaml")
		onDocker := filepath.Join(t.TempDir(), "targets.yaml")
		writeFile(t, onBuildKit, readFile(t, list))
		writeFile(t, onDocker, readFile(t, list))
		if r := runLLBGen(t, bed.Addr, "lock", "-f", onBuildKit, "--progress", "plain"); r.code != 0 {
			t.Fatalf("on buildkitd: exit %d\n%s", r.code, tail(r.stderr, 30))
		}
		cmd := dockerCmd(t, []string{"DOCKER_HOST=" + eng.Host}, "lock", "-f", onDocker, "--progress", "plain")
		withoutDefaultBuildKit(t, cmd)
		r := runCmd(t, cmd)
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

// With no address given and nothing at BuildKit's default address, a run
// that falls back to a Docker Engine on tcp:// without TLS (DOCKER_HOST)
// warns that setup code could reach it, as one given docker://tcp://...
// does; on unix:// it does not. The warning comes once the engine is known,
// after the fallback is said, before anything is solved (here the image is
// missing: the run ends there).
func TestFallbackToTCPDockerWarnsOfSetup(t *testing.T) {
	bed := testbed.Require(t)
	eng := bed.RequireEngine(t)
	tcp := tcpToEngine(t, eng)
	list := writeList(t, "helper: {version: v0.12.0}\ngo: "+bed.Golang()+"\ntargets:\n"+
		"  - image: "+bed.Registry+"/nope/missing:1\n    name: with-setup\n    cgo: true\n    setup: [apt-get update]\n")
	fallback := "llbgen: no BuildKit daemon at " + daemon.DefaultAddr + "; building on Docker Engine at "
	warning := "llbgen: warning: target with-setup has setup steps, which run with the daemon's network, and Docker Engine at " + tcp + " is reached without TLS (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH)"
	for _, c := range []struct {
		name     string
		args     []string
		host     string
		fallback bool
		warn     bool
	}{
		{name: "fallback to tcp://", host: tcp, fallback: true, warn: true},
		{name: "fallback to unix://", host: eng.Host, fallback: true},
		{name: "docker:// with tcp://", args: []string{"--addr", daemon.DockerScheme}, host: tcp, warn: true},
		{name: "docker://tcp://", args: []string{"--addr", daemon.DockerScheme + tcp}, warn: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var env []string
			if c.host != "" {
				env = append(env, "DOCKER_HOST="+c.host)
			}
			cmd := dockerCmd(t, env, append([]string{"build", "-f", list, "--out", filepath.Join(t.TempDir(), "out"), "--progress", "plain"}, c.args...)...)
			withoutDefaultBuildKit(t, cmd)
			r := runCmd(t, cmd)
			if r.code != 1 || !strings.Contains(r.stderr, "nope/missing:1") {
				t.Fatalf("exit %d, want 1 for the missing image\n%s", r.code, tail(r.stderr, 20))
			}
			said, warned := strings.Index(r.stderr, fallback+c.host+"\n"), strings.Index(r.stderr, warning)
			switch {
			case c.fallback && said < 0:
				t.Errorf("the fallback to %s is not said:\n%s", c.host, tail(r.stderr, 20))
			case c.warn && warned < 0:
				t.Errorf("no warning %q:\n%s", warning, tail(r.stderr, 20))
			case !c.warn && strings.Contains(r.stderr, "llbgen: warning: target with-setup"):
				t.Errorf("warned on %s:\n%s", c.host, tail(r.stderr, 20))
			case c.fallback && c.warn && warned < said:
				t.Errorf("warned before the fallback was said:\n%s", tail(r.stderr, 20))
			case strings.Count(r.stderr, "has setup steps") > 1:
				t.Errorf("warned more than once:\n%s", tail(r.stderr, 20))
			}
		})
	}
}

// tcpToEngine is a tcp:// DOCKER_HOST on loopback, without TLS, that
// forwards each connection to the test bed's engine.
func tcpToEngine(t *testing.T, eng *testbed.Engine) string {
	t.Helper()
	sock, ok := strings.CutPrefix(eng.Host, "unix://")
	if !ok {
		t.Fatalf("the test bed's engine is at %s, not on a unix socket", eng.Host)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				e, err := net.Dial("unix", sock)
				if err != nil {
					return
				}
				defer e.Close()
				done := make(chan struct{}, 2)
				go func() { io.Copy(e, c); done <- struct{}{} }()
				go func() { io.Copy(c, e); done <- struct{}{} }()
				<-done
			}()
		}
	}()
	return "tcp://" + l.Addr().String()
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

// noBuildKitScript runs its arguments after `sh -c SCRIPT sh DIR`, in a
// mount namespace of its own (unshare -m: mounts private), where DIR,
// BuildKit's default socket directory, is an empty read-only tmpfs; or,
// when DIR does not exist, where its nearest existing parent is read-only,
// so nothing can make it.
const noBuildKitScript = `set -e
dir=$1
shift
if [ -d "$dir" ]; then
	mount -t tmpfs -o ro,mode=0755,size=16k llbgen-no-buildkit "$dir"
else
	p=$(dirname "$dir")
	while [ ! -d "$p" ]; do p=$(dirname "$p"); done
	[ "$p" != / ] || { echo "$dir: would make / read-only" >&2; exit 125; }
	mount --rbind "$p" "$p"
	mount -o remount,bind,ro "$p"
fi
[ ! -e "${dir%/}/buildkitd.sock" ]
exec "$@"`

var (
	unshareOnce   sync.Once
	unshareReason string
)

// withoutDefaultBuildKit makes cmd run where nothing answers at BuildKit's
// default address and nothing can be started there, whatever runs on this
// machine: in a mount namespace of its own (noBuildKitScript). The
// machine's /run/buildkit is neither read nor written, so a buildkitd of
// its own there (`make buildkitd`) neither fails the test nor hides the
// fallback to Docker. It needs unshare(1) and the right to mount (root):
// without them, the test skips in one line, or fails in CI.
func withoutDefaultBuildKit(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	unshareOnce.Do(func() {
		out, err := exec.Command("unshare", "-m", "--", "sh", "-c", noBuildKitScript, "sh", defaultBuildKitDir(), "true").CombinedOutput()
		if err != nil {
			unshareReason = fmt.Sprintf("`unshare -m` with a tmpfs over %s: %v: %s", defaultBuildKitDir(), err, strings.TrimSpace(string(out)))
		}
	})
	if unshareReason != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but the fallback to Docker cannot be tested apart from this machine's BuildKit: %s", unshareReason)
		}
		t.Skipf("skipping: the fallback to Docker needs a mount namespace without BuildKit's default socket: %s", unshareReason)
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Args = append([]string{"unshare", "-m", "--", "sh", "-c", noBuildKitScript, "sh", defaultBuildKitDir(), cmd.Path}, cmd.Args[1:]...)
	cmd.Path = unshare
}

// withoutDefaultBuildKit hides what the machine has at BuildKit's default
// socket directory and lets nothing be made there, whether the directory
// exists or not. The machine here is a mount namespace of the test's own
// with a tmpfs over the directory's parent, holding the directory and a
// socket file in it, or nothing (the machine's own /run/buildkit, there
// or not, plays no part).
func TestWithoutDefaultBuildKit(t *testing.T) {
	dir := defaultBuildKitDir()
	for _, c := range []struct{ name, machine string }{
		{"a socket there", `mount -t tmpfs llbgen-test "$(dirname "$1")" && mkdir "$1" && : >"$1/buildkitd.sock"`},
		{"no directory", `mount -t tmpfs llbgen-test "$(dirname "$1")" && [ ! -e "$1" ]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			check := exec.Command("sh", "-c", `[ ! -e "$1/buildkitd.sock" ] && ! mkdir -p "$1/new" 2>/dev/null && ! touch "$1/buildkitd.sock" 2>/dev/null && echo hidden`, "sh", dir)
			withoutDefaultBuildKit(t, check)
			machine := exec.Command("unshare", append([]string{"-m", "--", "sh", "-c", "set -e; " + c.machine + `; shift; exec "$@"`, "sh", dir, check.Path}, check.Args[1:]...)...)
			out, err := machine.CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "hidden" {
				t.Errorf("%v: %s", err, out)
			}
		})
	}
}

// defaultBuildKitDir is the directory of BuildKit's default socket.
func defaultBuildKitDir() string {
	return filepath.Dir(strings.TrimPrefix(daemon.DefaultAddr, "unix://"))
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
