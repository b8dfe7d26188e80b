package daemon

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/util/apicaps"
	digest "github.com/opencontainers/go-digest"

	"github.com/llbgen/llbgen/internal/testbed"
	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/outdir"
)

func TestCheckDockerHost(t *testing.T) {
	for host, ok := range map[string]bool{
		"unix:///var/run/docker.sock":        true,
		"tcp://127.0.0.1:2376":               true,
		"tcp://docker.example.com:2375":      true,
		"ssh://user@docker.example.com":      true,
		"ssh://docker.example.com:2222/x.so": true,
		"unix://var/run/docker.sock":         false, // relative
		"tcp://127.0.0.1":                    false, // no port
		"tcp://user@127.0.0.1:2376":          false,
		"ssh://user:pw@docker.example.com":   false, // a password in the URL
		"/var/run/docker.sock":               false,
		"http://127.0.0.1:2375":              false,
		"npipe:////./pipe/docker_engine":     false, // not on Linux
		"docker-container://buildkitd":       false,
	} {
		if err := CheckDockerHost(host); (err == nil) != ok {
			t.Errorf("%s: %v, want ok %v", host, err, ok)
		}
	}
}

// What a run uses, held against what a daemon says of itself, decides
// whether it is refused before any build, and the refusal names what is
// missing and the release that has it.
func TestNeedsDecision(t *testing.T) {
	creds := Options{}
	creds.Plan.Env = map[string]string{"GOPROXY": "https://user:token@proxy.example.com"}
	prov := Options{Provenance: true}
	push := Options{Publish: Publish{Push: true}}
	docker := func(engine, buildkit string, store bool) engineFacts {
		return engineFacts{where: "Docker Engine at unix:///d.sock", docker: true, engine: engine, buildkit: buildkit, containerdStore: store}
	}
	buildkitd := func(buildkit string) engineFacts {
		return engineFacts{where: "BuildKit at unix:///b.sock", buildkit: buildkit}
	}
	for _, c := range []struct {
		name  string
		facts engineFacts
		opt   Options
		want  []string // parts of the refusal; none: not refused
	}{
		{"debian 20.10, plain build", docker("20.10.24+dfsg1", "", false), Options{}, nil},
		{"debian 20.10, GOPROXY with credentials", docker("20.10.24+dfsg1", "", false), creds, []string{
			"Docker Engine at unix:///d.sock runs BuildKit v0.8 (Docker Engine 20.10.24+dfsg1), which lacks secret environment variables (exec.secretenv)",
			"llbgen needs Docker Engine 23.0 or later, or a BuildKit daemon v0.10 or later"}},
		{"debian 20.10, provenance", docker("20.10.24+dfsg1", "", false), prov, []string{
			"runs BuildKit v0.8 (Docker Engine 20.10.24+dfsg1), which lacks the merge op (mergeop), for --provenance; and provenance attestations",
			"llbgen needs Docker Engine 24.0 or later, with the containerd image store", "containerd-snapshotter"}},
		{"19.03", docker("19.03.12", "", false), Options{}, []string{
			"runs BuildKit v0.6 (Docker Engine 19.03.12), which lacks llbgen's build graph", "Docker Engine 20.10 or later"}},
		{"18.06", docker("18.06.3-ce", "", false), Options{}, []string{"runs no BuildKit (Docker Engine 18.06.3-ce)"}},
		{"23.0, GOPROXY with credentials", docker("23.0.6", "", false), creds, nil},
		{"23.0, provenance", docker("23.0.6", "", true), prov, []string{
			"runs BuildKit v0.10 (Docker Engine 23.0.6), which lacks provenance attestations, for --provenance", "Docker Engine 24.0 or later"}},
		{"28 classic store, provenance", docker("", "v0.23.2", false), prov, []string{
			"Docker Engine at unix:///d.sock keeps images in its classic store, where its BuildKit lacks the merge op (mergeop), for --provenance; and provenance attestations, for --provenance: turn on the containerd image store"}},
		{"28 classic store, plain build", docker("", "v0.23.2", false), Options{}, nil},
		{"29 containerd store, provenance", docker("", "v0.25.1", true), prov, nil},
		{"28 classic store, push", docker("", "v0.23.2", false), push, []string{
			"Docker Engine at unix:///d.sock keeps images in its classic store, where its BuildKit lacks reproducible images pushed and loaded from its own image exporter, for --push and --load: turn on the containerd image store"}},
		{"28 classic store, load", docker("", "v0.23.2", false), Options{Publish: Publish{Load: true}}, []string{"keeps images in its classic store"}},
		{"29 containerd store, push", docker("", "v0.25.1", true), push, nil},
		{"buildkitd v0.12.5, push", buildkitd("v0.12.5"), push, []string{"runs BuildKit v0.12.5, which lacks reproducible images", "llbgen needs BuildKit v0.13 or later"}},
		{"25.0 containerd store, push", docker("", "v0.12.5", true), push, []string{"llbgen needs Docker Engine 26.0 or later"}},
		{"buildkitd v0.34.2, push and load", buildkitd("v0.34.2"), Options{Publish: Publish{Push: true, Load: true}}, nil},
		{"buildkitd v0.10.6, provenance", buildkitd("v0.10.6"), prov, []string{
			"BuildKit at unix:///b.sock runs BuildKit v0.10.6, which lacks provenance attestations, for --provenance: llbgen needs BuildKit v0.11 or later"}},
		{"buildkitd v0.10.6, credentials", buildkitd("v0.10.6"), creds, nil},
		{"buildkitd without Info, provenance", buildkitd(""), prov, []string{
			"runs BuildKit older than v0.11 (it has no Info API), which lacks provenance attestations"}},
		{"buildkitd without Info, credentials", buildkitd(""), creds, nil}, // cannot tell: let the solve say
		{"buildkitd built from source", buildkitd("v0.0.0+unknown"), prov, nil},
		{"buildkitd rc", buildkitd("v0.11.0-rc1"), prov, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := checkNeeds(c.facts, needsOf(c.opt))
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var u *UnsupportedError
			if !errors.As(err, &u) {
				t.Fatalf("got %v, want an UnsupportedError", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s\nlacks %q", err, w)
				}
			}
		})
	}
}

// Every LLB capability the graph records is one needsOf names for the run,
// so a new one the graph starts to use cannot slip past the check.
func TestNeedsCoverTheGraph(t *testing.T) {
	list := parseList(t, testYAML)
	creds := map[string]string{"GOPROXY": "https://user:token@proxy.example.com"}
	for _, c := range []struct {
		name string
		opt  Options
		env  map[string]string
	}{
		{"plain", Options{}, nil},
		{"GOPROXY with credentials", Options{}, creds},
		{"provenance", Options{Provenance: true}, nil},
		{"own stage tool", Options{StageTool: "/proc/self/exe"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.opt.Plan.Env = c.env
			gopt := graph.Options{Env: c.env}
			if c.opt.StageTool != "" {
				gopt.OwnTool = digest.FromString("llbgen")
			}
			b := buildGraph(t, list, gopt)
			states := []llb.State{b.g.Output}
			var delivered []llb.State
			for _, st := range b.g.Delivered {
				delivered = append(delivered, st)
			}
			states = append(states, delivered...)
			if c.opt.Provenance {
				states = append(states, llb.Merge(delivered)) // as verifiedResult solves them
			}
			covered := map[apicaps.CapID]bool{}
			for _, n := range needsOf(c.opt) {
				for _, id := range n.caps {
					covered[id] = true
				}
			}
			used := map[apicaps.CapID]bool{}
			for _, st := range states {
				for _, m := range marshal(t, st).Metadata {
					for id := range m.Caps {
						used[apicaps.CapID(id)] = true
						if !covered[apicaps.CapID(id)] {
							t.Errorf("the graph uses LLB capability %s, which no need of this run names", id)
						}
					}
				}
			}
			if len(used) == 0 {
				t.Error("the graph recorded no capability: is it marshalled?")
			}
		})
	}
}

// A Docker Engine too old for the run is refused before any session: the
// engine is asked its BuildKit (no Info API) and its own version, and
// nothing else.
func TestDockerTooOldRefusedUpFront(t *testing.T) {
	f := &fakeControl{}
	host := fakeDocker(t, "20.10.24", f)
	list := parseList(t, testYAML)
	out, err := outdir.Open(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	_, err = Run(context.Background(), list, out, Options{Addr: DockerScheme + host, Provenance: true, ProgressOut: &stderr, Progress: "plain"})
	var u *UnsupportedError
	if !errors.As(err, &u) {
		t.Fatalf("got %v, want an UnsupportedError", err)
	}
	want := "Docker Engine at " + host + " runs BuildKit v0.8 (Docker Engine 20.10.24), which lacks the merge op (mergeop), for --provenance"
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got  %s\nwant %s...", err, want)
	}
	if n := f.others.Load(); n != 0 {
		t.Errorf("%d solves or sessions reached the engine, want none", n)
	}
	// Without --provenance it has all the run uses.
	opt := Options{Addr: DockerScheme + host}
	c, _, err := open(context.Background(), &opt)
	if err != nil {
		t.Fatalf("a plain build on Docker Engine 20.10 refused: %v", err)
	}
	c.Close()
}

// With no address given: a BuildKit daemon at the default address when one
// answers, else the Docker Engine DOCKER_HOST names, said in one line; when
// neither answers, one error names both.
func TestDefaultFallsBackToDocker(t *testing.T) {
	missing := "unix://" + filepath.Join(t.TempDir(), "none.sock")
	modern := func() *fakeControl { return &fakeControl{version: "v0.25.1", labels: containerdStore} }
	for _, c := range []struct {
		name      string
		buildkitd bool // a daemon answers at the default address
		docker    bool // an engine answers at DOCKER_HOST
		wantAddr  string
		wantLine  bool
	}{
		{"buildkitd answers", true, true, "buildkitd", false},
		{"only Docker", false, true, "docker", true},
		{"neither", false, false, "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			defaultAddr = missing
			if c.buildkitd {
				defaultAddr = fakeBuildKitd(t, modern())
			}
			t.Cleanup(func() { defaultAddr = DefaultAddr })
			host := missing
			if c.docker {
				host = fakeDocker(t, "29.0.0", modern())
			}
			t.Setenv("DOCKER_HOST", host)
			var stderr bytes.Buffer
			opt := Options{ProgressOut: &stderr}
			cl, w, err := open(context.Background(), &opt)
			if cl != nil {
				cl.Close()
				if w.addr != opt.Addr {
					t.Errorf("the worker says %q, open chose %q", w.addr, opt.Addr)
				}
			}
			switch c.wantAddr {
			case "buildkitd":
				if err != nil || opt.Addr != defaultAddr {
					t.Errorf("address %q, error %v; want %s", opt.Addr, err, defaultAddr)
				}
			case "docker":
				if err != nil || opt.Addr != DockerScheme+host {
					t.Errorf("address %q, error %v; want %s", opt.Addr, err, DockerScheme+host)
				}
			default:
				var none *NoDaemonError
				if !errors.As(err, &none) {
					t.Fatalf("got %v, want a NoDaemonError", err)
				}
				for _, w := range []string{"no BuildKit daemon at " + missing + " (dial unix ", "no Docker Engine at " + host + " (dial unix ", HowToGetADaemon} {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s\nlacks %q", err, w)
					}
				}
			}
			wantOut := ""
			if c.wantLine {
				wantOut = "llbgen: no BuildKit daemon at " + missing + "; building on Docker Engine at " + host + "\n"
			}
			if stderr.String() != wantOut {
				t.Errorf("stderr %q, want %q", stderr.String(), wantOut)
			}
		})
	}
}

// A run that falls back to a Docker Engine that lacks what it uses says
// both: which engine it took, and what it lacks.
func TestFallbackToOldDockerSaysBoth(t *testing.T) {
	defaultAddr = "unix://" + filepath.Join(t.TempDir(), "none.sock")
	t.Cleanup(func() { defaultAddr = DefaultAddr })
	host := fakeDocker(t, "", &fakeControl{version: "v0.23.2"}) // classic store
	t.Setenv("DOCKER_HOST", host)
	var stderr bytes.Buffer
	opt := Options{ProgressOut: &stderr, Provenance: true}
	_, _, err := open(context.Background(), &opt)
	var u *UnsupportedError
	if !errors.As(err, &u) || !strings.Contains(err.Error(), "keeps images in its classic store") {
		t.Errorf("got %v, want the classic store refused", err)
	}
	if !strings.HasPrefix(stderr.String(), "llbgen: no BuildKit daemon at ") {
		t.Errorf("stderr %q: the fallback is not said", stderr.String())
	}
}

// docker:// alone is the engine the docker CLI would use: DOCKER_HOST,
// else the current Docker context's (DOCKER_CONTEXT, else the config's
// currentContext), else Docker's default socket.
func TestEnvDockerHost(t *testing.T) {
	cfg := t.TempDir()
	context := func(name, host string, tls bool) {
		id := digest.FromString(name).Encoded()
		meta := filepath.Join(cfg, "contexts", "meta", id)
		if err := os.MkdirAll(meta, 0o755); err != nil {
			t.Fatal(err)
		}
		data := `{"Name":"` + name + `","Metadata":{},"Endpoints":{"docker":{"Host":"` + host + `","SkipTLSVerify":false}}}`
		if err := os.WriteFile(filepath.Join(meta, "meta.json"), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if tls {
			dir := filepath.Join(cfg, "contexts", "tls", id, "docker")
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "ca.pem"), []byte("-"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	context("desktop-linux", "unix:///home/me/.docker/desktop/docker.sock", false)
	context("colima", "unix:///home/me/.colima/default/docker.sock", false)
	context("remote", "tcp://docker.example.com:2376", true)
	current := func(name string) {
		if err := os.WriteFile(filepath.Join(cfg, "config.json"), []byte(`{"auths":{},"currentContext":"`+name+`"}`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name, dockerHost, dockerContext, current string
		host, from, err                          string
	}{
		{name: "nothing set", host: DefaultDockerHost, from: "Docker's default"},
		{name: "DOCKER_HOST", dockerHost: "tcp://h:2375", dockerContext: "colima", current: "desktop-linux", host: "tcp://h:2375", from: "DOCKER_HOST"},
		{name: "current context", current: "desktop-linux", host: "unix:///home/me/.docker/desktop/docker.sock", from: "Docker context desktop-linux"},
		{name: "DOCKER_CONTEXT", dockerContext: "colima", current: "desktop-linux", host: "unix:///home/me/.colima/default/docker.sock", from: "Docker context colima"},
		{name: "default context", current: "default", host: DefaultDockerHost, from: "Docker's default"},
		{name: "missing context", dockerContext: "gone", err: "Docker context gone (DOCKER_CONTEXT): no such Docker context"},
		{name: "context with TLS files", current: "remote", err: "Docker context remote (currentContext in " + filepath.Join(cfg, "config.json") + "): the context reaches tcp://docker.example.com:2376 with TLS files of its own"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("DOCKER_CONFIG", cfg)
			t.Setenv("DOCKER_HOST", c.dockerHost)
			t.Setenv("DOCKER_CONTEXT", c.dockerContext)
			current(c.current)
			host, from, err := EnvDockerHost()
			if c.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), c.err) {
					t.Errorf("error %v, want %q...", err, c.err)
				}
				return
			}
			if err != nil || host != c.host || from != c.from {
				t.Errorf("%q from %q (%v), want %q from %q", host, from, err, c.host, c.from)
			}
		})
	}
}

// The fallback to the current Docker context's engine says so.
func TestFallbackSaysTheContext(t *testing.T) {
	defaultAddr = "unix://" + filepath.Join(t.TempDir(), "none.sock")
	t.Cleanup(func() { defaultAddr = DefaultAddr })
	host := fakeDocker(t, "29.0.0", &fakeControl{version: "v0.25.1", labels: containerdStore})
	cfg := t.TempDir()
	meta := filepath.Join(cfg, "contexts", "meta", digest.FromString("desktop-linux").Encoded())
	if err := os.MkdirAll(meta, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(meta, "meta.json"), []byte(`{"Name":"desktop-linux","Endpoints":{"docker":{"Host":"`+host+`"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg, "config.json"), []byte(`{"currentContext":"desktop-linux"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", cfg)
	t.Setenv("DOCKER_HOST", "")
	t.Setenv("DOCKER_CONTEXT", "")
	var stderr bytes.Buffer
	opt := Options{ProgressOut: &stderr}
	c, _, err := open(context.Background(), &opt)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	want := "llbgen: no BuildKit daemon at " + defaultAddr + "; building on Docker Engine at " + host + " (Docker context desktop-linux)\n"
	if stderr.String() != want || opt.Addr != DockerScheme+host {
		t.Errorf("address %s, said %q; want %q", opt.Addr, stderr.String(), want)
	}
}

// A tcp:// engine that requires TLS client certificates is reached with
// DOCKER_TLS_VERIFY and DOCKER_CERT_PATH's ca.pem, cert.pem and key.pem, as
// the docker CLI reaches it; without DOCKER_TLS_VERIFY, no TLS, and it does
// not answer.
func TestDockerOverTCPWithTLS(t *testing.T) {
	files := testbed.MakeTLS(t, t.TempDir())
	certs := t.TempDir()
	for name, from := range map[string]string{"ca.pem": files.CA, "cert.pem": files.ClientCert, "key.pem": files.ClientKey} {
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(certs, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	serverCert, err := tls.LoadX509KeyPair(files.ServerCert, files.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(files.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{serverCert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
	})
	if err != nil {
		t.Fatal(err)
	}
	serveDocker(t, l, "29.0.0", &fakeControl{version: "v0.25.1", labels: containerdStore})
	addr := DockerScheme + "tcp://" + l.Addr().String()
	t.Setenv("DOCKER_CERT_PATH", certs)

	t.Setenv("DOCKER_TLS_VERIFY", "1")
	opt := Options{Addr: addr, ConnectTimeout: 5 * time.Second}
	c, _, err := open(context.Background(), &opt)
	if err != nil {
		t.Fatalf("with DOCKER_TLS_VERIFY: %v", err)
	}
	c.Close()

	t.Setenv("DOCKER_TLS_VERIFY", "")
	var u *UnreachableError
	if _, _, err := open(context.Background(), &opt); !errors.As(err, &u) || !strings.HasPrefix(err.Error(), "cannot reach Docker Engine at tcp://") {
		t.Errorf("without DOCKER_TLS_VERIFY: %v; want cannot reach Docker Engine", err)
	}
}

// open tells Options.Settled the address the run settled on, once per
// connection: a given address before it is contacted (so even one that
// does not answer), the default BuildKit daemon's, or the fallback's
// Docker Engine, here DOCKER_HOST=tcp://... without TLS, once it answered.
func TestOpenTellsSettled(t *testing.T) {
	modern := func() *fakeControl { return &fakeControl{version: "v0.25.1", labels: containerdStore} }
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveDocker(t, l, "29.0.0", modern())
	tcpHost := "tcp://" + l.Addr().String()
	missing := "unix://" + filepath.Join(t.TempDir(), "none.sock")
	for _, c := range []struct {
		name, addr, defaultAddr, dockerHost string
		want                                []string
	}{
		{name: "fallback to tcp://", defaultAddr: missing, dockerHost: tcpHost, want: []string{DockerScheme + tcpHost}},
		{name: "default answers", defaultAddr: fakeBuildKitd(t, modern()), dockerHost: tcpHost, want: []string{"default"}},
		{name: "given docker://tcp://", addr: DockerScheme + tcpHost, defaultAddr: missing, want: []string{DockerScheme + tcpHost}},
		{name: "given, no answer", addr: missing, defaultAddr: missing, want: []string{missing}},
		{name: "nothing answers", defaultAddr: missing, dockerHost: missing, want: nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			defaultAddr = c.defaultAddr
			t.Cleanup(func() { defaultAddr = DefaultAddr })
			t.Setenv("DOCKER_HOST", c.dockerHost)
			t.Setenv("DOCKER_TLS_VERIFY", "")
			var said []string
			var stderr bytes.Buffer
			opt := Options{Addr: c.addr, ProgressOut: &stderr, ConnectTimeout: 5 * time.Second, Settled: func(addr string) {
				said = append(said, addr)
				if c.addr == "" && addr != defaultAddr && !strings.Contains(stderr.String(), "building on Docker Engine at "+c.dockerHost) {
					t.Errorf("told %s before the fallback was said", addr)
				}
			}}
			if cl, _, err := open(context.Background(), &opt); err == nil {
				cl.Close()
			}
			want := c.want
			if len(want) == 1 && want[0] == "default" {
				want = []string{defaultAddr}
			}
			if !slices.Equal(said, want) {
				t.Errorf("Settled told %q, want %q", said, want)
			}
		})
	}
}
