package main

import (
	"testing"

	"github.com/containerd/platforms"

	"github.com/llbgen/llbgen/pkg/daemon"
)

// --addr PLATFORM=ADDR is read before anything is contacted: bad routes
// are bad input, exit 2, nothing written; what cannot be made on several
// daemons is refused up front.
func TestRouteBadInputExits2(t *testing.T) {
	for _, tc := range []struct {
		name string
		verb string
		args []string
		want string
	}{
		{"bad platform", "build", []string{"--addr", "linux/sparc=tcp://127.0.0.1:1"}, `^llbgen: --addr linux/sparc=tcp://127.0.0.1:1: `},
		{"bad address", "build", []string{"--addr", "linux/arm64=127.0.0.1:1"}, `^llbgen: --addr linux/arm64 "127.0.0.1:1": want an address`},
		{"platform twice", "build", []string{"--addr", "linux/arm64=tcp://a:1", "--addr", "linux/arm64/v8=tcp://b:1"}, `^llbgen: --addr linux/arm64/v8=tcp://b:1: linux/arm64 is routed already \(--addr linux/arm64=tcp://a:1\)`},
		{"two defaults", "build", []string{"--addr", "tcp://a:1", "--addr", "tcp://b:1"}, `^llbgen: --addr is given 2 times without a platform \(tcp://a:1, tcp://b:1\)`},
		{"server name and a tcp route", "build", []string{"--addr", "tcp://a:1", "--tlsservername", "a", "--addr", "linux/arm64=tcp://b:1"}, `^llbgen: --tlsservername names one daemon's certificate, and 2 daemons are reached over tcp://`},
		{"TLS flags and a docker route", "build", []string{"--addr", "tcp://a:1", "--tlscacert", "targets.yaml", "--addr", "linux/arm64=docker://unix:///var/run/docker.sock"}, `^llbgen: --tlscacert, --tlscert, --tlskey and --tlsservername are for a BuildKit daemon over tcp://; Docker Engine at unix:///var/run/docker.sock \(--addr linux/arm64=docker://unix:///var/run/docker.sock\)`},
		{"matrix", "matrix", []string{"--addr", "linux/arm64=tcp://a:1"}, `^llbgen: --addr linux/arm64=tcp://a:1: routing platforms to daemons is for llbgen build`},
		{"lock", "lock", []string{"--addr", "linux/arm64=tcp://a:1"}, `^llbgen: --addr linux/arm64=tcp://a:1: routing platforms to daemons is for llbgen build`},
		{"push", "build", []string{"--addr", "linux/arm64=tcp://a:1", "--push"}, `^llbgen: --push: made on one daemon, and this run builds on several \(--addr PLATFORM=ADDR`},
		{"provenance and cache", "build", []string{"--addr", "linux/arm64=tcp://a:1", "--provenance", "--cache-to", "type=local,dest=c"}, `^llbgen: --provenance, --cache-to \(or \$LLBGEN_CACHE_TO\): made on one daemon`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"BUILDKIT_HOST", "BUILDKIT_PROGRESS", "LLBGEN_CACHE_TO", "LLBGEN_CACHE_FROM"} {
				t.Setenv(k, "")
			}
			dir := dirWith(t, map[string]string{"targets.yaml": goodList})
			assertBadInput(t, dir, tc.want, append([]string{tc.verb}, tc.args...)...)
		})
	}
}

// Routes and the default daemon are read from --addr in any order; an
// address with "=" after its scheme is an address, not a route.
func TestRoutesParsed(t *testing.T) {
	t.Setenv("BUILDKIT_HOST", "tcp://from-env:1")
	o := daemonOptions{routable: true, addrs: []string{
		"linux/arm64,linux/arm/v7=tcp://arm:1234",
		"kube-pod://buildkitd?namespace=ci",
	}}
	if err := o.validateAddr(); err != nil {
		t.Fatal(err)
	}
	if o.addr != "kube-pod://buildkitd?namespace=ci" {
		t.Errorf("default daemon %q", o.addr)
	}
	if len(o.routes) != 1 || o.routes[0].Addr != "tcp://arm:1234" || len(o.routes[0].Platforms) != 2 ||
		platforms.Format(o.routes[0].Platforms[0]) != "linux/arm64" || platforms.Format(o.routes[0].Platforms[1]) != "linux/arm/v7" {
		t.Errorf("routes %+v", o.routes)
	}
	o = daemonOptions{routable: true, addrs: []string{"linux/arm64=tcp://arm:1234"}}
	if err := o.validateAddr(); err != nil {
		t.Fatal(err)
	}
	if o.addr != "tcp://from-env:1" {
		t.Errorf("with routes only, the default daemon is BUILDKIT_HOST's; got %q", o.addr)
	}
	// The TLS flags go to tcp:// routes only.
	o = daemonOptions{routable: true, tls: daemon.TLS{CACert: "ca.pem"}, addrs: []string{"linux/arm64=tcp://arm:1", "linux/arm/v7=unix:///run/arm.sock"}}
	if err := o.validateAddr(); err != nil {
		t.Fatal(err)
	}
	if o.routes[0].TLS.CACert != "ca.pem" || o.routes[1].TLS != (daemon.TLS{}) {
		t.Errorf("routes' TLS: %+v", o.routes)
	}
}
