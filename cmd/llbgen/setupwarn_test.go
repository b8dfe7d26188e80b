package main

import (
	"strings"
	"testing"

	"github.com/llbgen/llbgen/pkg/daemon"
	"github.com/llbgen/llbgen/pkg/targets"
)

const setupList = `helper: {version: v0.12.0}
targets:
  - image: docker:19.03.12
  - image: gitlab/gitlab-runner:v13.2.1
    name: runner-cgo
    cgo: true
    setup: [apt-get update]
`

// setup runs with the daemon's network: a tcp:// daemon that takes clients
// without a certificate takes setup code too, and build and matrix say so.
func TestSetupReachWarning(t *testing.T) {
	withSetup, err := targets.Parse("targets.yaml", []byte(setupList))
	if err != nil {
		t.Fatal(err)
	}
	without, err := targets.Parse("targets.yaml", []byte("helper: {version: v0.12.0}\ntargets:\n  - image: docker:19.03.12\n  - image: alpine:3.12\n    cgo: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	mtls := daemon.TLS{CACert: "ca.pem", Cert: "cert.pem", Key: "key.pem"}
	for _, c := range []struct {
		addr string
		tls  daemon.TLS
		list *targets.List
		warn bool
	}{
		{"tcp://127.0.0.1:1234", daemon.TLS{}, withSetup, true},
		{"tcp://127.0.0.1:1234", daemon.TLS{CACert: "ca.pem"}, withSetup, true}, // server TLS authenticates no client
		{"tcp://127.0.0.1:1234", mtls, withSetup, false},
		{"tcp://127.0.0.1:1234", daemon.TLS{}, without, false},
		{"unix:///run/buildkit/buildkitd.sock", daemon.TLS{}, withSetup, false},
		{"docker-container://buildkitd", daemon.TLS{}, withSetup, false},
	} {
		o := daemonOptions{addr: c.addr, tls: c.tls}
		w := o.setupReachWarning(c.list)
		if (w != "") != c.warn {
			t.Errorf("%s %+v: warning %q, want one: %v", c.addr, c.tls, w, c.warn)
		}
	}
	want := `llbgen: warning: target runner-cgo has setup steps, which run with the daemon's network, and tcp://127.0.0.1:1234 is reached without a client certificate (--tlscert, --tlskey): setup code could reach the daemon too and write llbgen's shared build cache; serve it on a unix socket or on tcp with mTLS (README, "Security")`
	if w := (&daemonOptions{addr: "tcp://127.0.0.1:1234"}).setupReachWarning(withSetup); w != want {
		t.Errorf("got  %s\nwant %s", w, want)
	}
}

// Both verbs print it before contacting the daemon (here: nothing listens).
func TestSetupReachWarningPrinted(t *testing.T) {
	dir := dirWith(t, map[string]string{"targets.yaml": setupList})
	for _, verb := range []string{"build", "matrix"} {
		_, _, stderr := runCLI(t, dir, verb, "--addr", "tcp://127.0.0.1:1", "--progress", "plain")
		if !strings.Contains(stderr, "llbgen: warning: target runner-cgo has setup steps") {
			t.Errorf("%s: no warning in %q", verb, stderr)
		}
	}
}
