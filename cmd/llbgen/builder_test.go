package main

import (
	"strings"
	"testing"

	"github.com/docker/buildx/store"
	"github.com/docker/buildx/util/confutil"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// saveBuilders writes builders into a buildx store at a new directory, with
// buildx's own code, and points BUILDX_CONFIG there.
func saveBuilders(t *testing.T, ngs ...*store.NodeGroup) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("BUILDX_CONFIG", dir)
	st, err := store.New(confutil.NewConfig(nil, confutil.WithDir(dir)))
	if err != nil {
		t.Fatal(err)
	}
	txn, release, err := st.Txn()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	for _, ng := range ngs {
		if err := txn.Save(ng); err != nil {
			t.Fatal(err)
		}
	}
}

// A builder's nodes become the daemons: the first is the default, with
// its TLS; the others route their platforms; each driver is reached as
// buildx reaches it.
func TestBuilderDaemons(t *testing.T) {
	arm64 := ocispecs.Platform{OS: "linux", Architecture: "arm64"}
	saveBuilders(t,
		&store.NodeGroup{Name: "remote", Driver: "remote", Nodes: []store.Node{
			{Name: "a", Endpoint: "tcp://a:1234", DriverOpts: map[string]string{"cacert": "/ca.pem", "cert": "/c.pem", "key": "/k.pem", "servername": "a.internal"}},
			{Name: "b", Endpoint: "tcp://b:1234", Platforms: []ocispecs.Platform{arm64}},
		}},
		&store.NodeGroup{Name: "containers", Driver: "docker-container", Nodes: []store.Node{
			// buildx stores the default context as its engine's address
			{Name: "c0", Endpoint: "unix:///var/run/docker.sock"},
			{Name: "c1", Endpoint: "graviton", Platforms: []ocispecs.Platform{arm64}},
		}},
		&store.NodeGroup{Name: "elsewhere", Driver: "docker-container", Nodes: []store.Node{{Name: "e0", Endpoint: "tcp://10.0.0.1:2376"}}},
	)
	t.Setenv("DOCKER_HOST", "")
	addr, tls, routes, err := builderDaemons("remote", "--builder")
	if err != nil {
		t.Fatal(err)
	}
	if addr != "tcp://a:1234" || tls.CACert != "/ca.pem" || tls.Cert != "/c.pem" || tls.Key != "/k.pem" || tls.ServerName != "a.internal" {
		t.Errorf("first node: %s %+v", addr, tls)
	}
	if len(routes) != 1 || routes[0].Addr != "tcp://b:1234" || len(routes[0].Platforms) != 1 || routes[0].Platforms[0].Architecture != "arm64" {
		t.Errorf("routes %+v", routes)
	}
	addr, _, routes, err = builderDaemons("containers", "--builder")
	if err != nil {
		t.Fatal(err)
	}
	if addr != "docker-container://buildx_buildkit_c0?context=default" || len(routes) != 1 || routes[0].Addr != "docker-container://buildx_buildkit_c1?context=graviton" {
		t.Errorf("docker-container builder: %s, %+v", addr, routes)
	}
	if _, _, _, err := builderDaemons("elsewhere", "--builder"); err == nil || !strings.Contains(err.Error(), "which is no Docker context's") {
		t.Errorf("a container on an engine no context names: %v", err)
	}
	// buildx's default builder: the engine's own BuildKit.
	if addr, _, _, err := builderDaemons("default", "--builder"); err != nil || addr != "docker://unix:///var/run/docker.sock" {
		t.Errorf("the default builder: %s, %v", addr, err)
	}
}

// What llbgen cannot build on is bad input, exit 2, naming the builder.
func TestBuilderBadInputExits2(t *testing.T) {
	arm64 := ocispecs.Platform{OS: "linux", Architecture: "arm64"}
	for _, tc := range []struct {
		name string
		verb string
		args []string
		env  map[string]string
		want string
	}{
		{"no such builder", "build", []string{"--builder", "gone"}, nil, `^llbgen: --builder gone: no such buildx builder in .*, nor a Docker context of that name`},
		{"from the environment", "build", nil, map[string]string{"BUILDX_BUILDER": "gone"}, `^llbgen: BUILDX_BUILDER gone: no such buildx builder`},
		{"with --addr", "build", []string{"--builder", "two", "--addr", "tcp://x:1"}, nil, `^llbgen: --builder two and --addr both name daemons; give one`},
		{"node without platforms", "build", []string{"--builder", "bare"}, nil, `^llbgen: --builder bare: node n1 names no platforms, so no binary would be built there`},
		{"kubernetes", "build", []string{"--builder", "kube"}, nil, `^llbgen: --builder kube: node k0: llbgen reaches builders of the remote and docker-container drivers \(and the docker driver's, by the Docker context's name\), not kubernetes`},
		{"several nodes for matrix", "matrix", []string{"--builder", "two"}, nil, `^llbgen: --builder two has 2 nodes, and this command builds on one daemon`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"BUILDKIT_HOST", "BUILDKIT_PROGRESS", "BUILDX_BUILDER"} {
				t.Setenv(k, "")
			}
			saveBuilders(t,
				&store.NodeGroup{Name: "two", Driver: "remote", Nodes: []store.Node{{Name: "n0", Endpoint: "tcp://a:1"}, {Name: "n1", Endpoint: "tcp://b:1", Platforms: []ocispecs.Platform{arm64}}}},
				&store.NodeGroup{Name: "bare", Driver: "remote", Nodes: []store.Node{{Name: "n0", Endpoint: "tcp://a:1"}, {Name: "n1", Endpoint: "tcp://b:1"}}},
				&store.NodeGroup{Name: "kube", Driver: "kubernetes", Nodes: []store.Node{{Name: "k0", Endpoint: "kubernetes:///x"}}},
			)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			dir := dirWith(t, map[string]string{"targets.yaml": goodList})
			assertBadInput(t, dir, tc.want, append([]string{tc.verb}, tc.args...)...)
		})
	}
}
