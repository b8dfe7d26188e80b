package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/llbgen/llbgen/pkg/daemon"
	"github.com/llbgen/llbgen/pkg/plan"
	"github.com/llbgen/llbgen/pkg/targets"
)

// A docker:// address llbgen cannot dial is bad input: exit 2 before
// anything is contacted or written, naming the flag or variable it came
// from.
func TestDockerAddrBadInputExits2(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"tcp without port", []string{"--addr", "docker://tcp://localhost"}, nil, `^llbgen: --addr "docker://tcp://localhost": want tcp://HOST:PORT`},
		{"relative unix", nil, map[string]string{"BUILDKIT_HOST": "docker://unix://docker.sock"}, `^llbgen: BUILDKIT_HOST "docker://unix://docker.sock": want unix:///PATH`},
		{"not a docker host", []string{"--addr", "docker://docker-container://x"}, nil, `^llbgen: --addr "docker://docker-container://x": want unix:///PATH, tcp://HOST:PORT or ssh://\[USER@\]HOST, not docker-container://`},
		{"bad DOCKER_HOST", []string{"--addr", "docker://"}, map[string]string{"DOCKER_HOST": "localhost:2375"}, `^llbgen: DOCKER_HOST "localhost:2375": want`},
		{"missing context", []string{"--addr", "docker://"}, map[string]string{"DOCKER_CONTEXT": "gone"}, `^llbgen: --addr docker://: Docker context gone \(DOCKER_CONTEXT\): no such Docker context`},
		{"llbgen's TLS flags", []string{"--addr", "docker://tcp://127.0.0.1:2376", "--tlscacert", "targets.yaml"}, nil, `^llbgen: --tlscacert, --tlscert, --tlskey and --tlsservername are for a BuildKit daemon over tcp://; Docker Engine at tcp://127.0.0.1:2376 takes TLS from DOCKER_TLS_VERIFY and DOCKER_CERT_PATH`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"BUILDKIT_HOST", "BUILDKIT_PROGRESS", "DOCKER_HOST", "DOCKER_CONTEXT"} {
				t.Setenv(k, "")
			}
			t.Setenv("DOCKER_CONFIG", t.TempDir())
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			dir := dirWith(t, map[string]string{"targets.yaml": goodList})
			for _, verb := range []string{"build", "matrix", "lock"} {
				code, stdout, stderr := runCLI(t, dir, append([]string{verb}, tc.args...)...)
				if code != 2 || stdout != "" {
					t.Errorf("%s: exit %d, stdout %q; want 2 and nothing", verb, code, stdout)
				}
				if !regexp.MustCompile(tc.want).MatchString(stderr) {
					t.Errorf("%s: stderr %q does not match %q", verb, stderr, tc.want)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "out")); !os.IsNotExist(err) {
				t.Error("the output directory was created")
			}
		})
	}
}

// A Docker Engine over tcp:// without a client certificate takes setup
// code's connections as a BuildKit daemon without one does, and worse:
// without TLS, and with server-only TLS (DOCKER_TLS_VERIFY, ca.pem alone in
// DOCKER_CERT_PATH), which authenticates the engine, not its clients.
func TestSetupReachWarningDocker(t *testing.T) {
	withSetup, err := targets.Parse("targets.yaml", []byte(setupList))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		addr, verify string
		certs        []string // the files in DOCKER_CERT_PATH
		want         string   // what the warning says is missing, "" for none
	}{
		{"docker://tcp://127.0.0.1:2375", "", nil, "Docker Engine at tcp://127.0.0.1:2375 is reached without TLS (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH)"},
		{"docker://tcp://127.0.0.1:2375", "", []string{"ca.pem", "cert.pem", "key.pem"}, "Docker Engine at tcp://127.0.0.1:2375 is reached without TLS (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH)"},
		{"docker://tcp://127.0.0.1:2376", "1", []string{"ca.pem"}, "Docker Engine at tcp://127.0.0.1:2376 is reached without a client certificate (no cert.pem and key.pem in CERTS, DOCKER_CERT_PATH)"},
		{"docker://tcp://127.0.0.1:2376", "1", nil, "Docker Engine at tcp://127.0.0.1:2376 is reached without a client certificate (no cert.pem and key.pem in CERTS, DOCKER_CERT_PATH)"},
		{"docker://tcp://127.0.0.1:2376", "1", []string{"ca.pem", "cert.pem", "key.pem"}, ""},
		{"docker://tcp://127.0.0.1:2376", "1", []string{"cert.pem", "key.pem"}, ""},
		{"docker://tcp://127.0.0.1:2376", "1", []string{"ca.pem", "cert.pem"}, ""}, // refused when dialled
		{"docker://unix:///var/run/docker.sock", "", nil, ""},
		{"docker://ssh://me@host", "", nil, ""},
	} {
		certs := t.TempDir()
		for _, name := range c.certs {
			if err := os.WriteFile(filepath.Join(certs, name), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		t.Setenv("DOCKER_CERT_PATH", certs)
		t.Setenv("DOCKER_TLS_VERIFY", c.verify)
		w := (&daemonOptions{addr: c.addr}).setupReachWarning(withSetup)
		want := strings.ReplaceAll(c.want, "CERTS", certs)
		if (w != "") != (want != "") || !strings.Contains(w, want) {
			t.Errorf("%s, DOCKER_TLS_VERIFY=%q, %v in DOCKER_CERT_PATH: warning %q, want one saying %q", c.addr, c.verify, c.certs, w, want)
		}
	}
}

// With no address given, the warning is decided from the address the run
// settles on, which the fallback can make a Docker Engine on tcp:// without
// TLS (DOCKER_HOST); it is printed once, however often the run connects.
func TestSetupReachWarningSettled(t *testing.T) {
	withSetup, err := targets.Parse("targets.yaml", []byte(setupList))
	if err != nil {
		t.Fatal(err)
	}
	certs := t.TempDir() // server-only TLS: ca.pem alone
	if err := os.WriteFile(filepath.Join(certs, "ca.pem"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	mtls := t.TempDir()
	for _, name := range []string{"ca.pem", "cert.pem", "key.pem"} {
		if err := os.WriteFile(filepath.Join(mtls, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		settled, verify, certPath string
		without                   string // what the warning says is missing, "" for none
	}{
		{"docker://tcp://127.0.0.1:2375", "", mtls, "TLS (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH)"},
		{"docker://tcp://127.0.0.1:2375", "1", certs, "a client certificate (no cert.pem and key.pem in " + certs + ", DOCKER_CERT_PATH)"},
		{"docker://tcp://127.0.0.1:2375", "1", mtls, ""},
		{"docker://unix:///var/run/docker.sock", "", mtls, ""},
		{daemon.DefaultAddr, "", mtls, ""},
	} {
		t.Setenv("DOCKER_TLS_VERIFY", c.verify)
		t.Setenv("DOCKER_CERT_PATH", c.certPath)
		var stderr bytes.Buffer
		var o daemonOptions // neither --addr nor BUILDKIT_HOST
		o.warnSetupReach(&stderr, withSetup)
		opt := o.options(&stderr, plan.Input{})
		if stderr.Len() != 0 || opt.Settled == nil {
			t.Fatalf("%s: warned before the run settled (%q), or nothing to tell", c.settled, stderr.String())
		}
		opt.Settled(c.settled)
		opt.Settled(c.settled) // images are published in a connection of their own
		want := ""
		if c.without != "" {
			want = "llbgen: warning: target runner-cgo has setup steps, which run with the daemon's network, and Docker Engine at tcp://127.0.0.1:2375 is reached without " + c.without + ": setup code could reach the daemon too and write llbgen's shared build cache; serve it on a unix socket or on tcp with mTLS (README, \"Security\")\n"
		}
		if stderr.String() != want {
			t.Errorf("settled on %s, DOCKER_TLS_VERIFY=%q, DOCKER_CERT_PATH %s: printed %q, want %q", c.settled, c.verify, c.certPath, stderr.String(), want)
		}
	}
}
