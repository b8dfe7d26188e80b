package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/grpcerrors"
	"github.com/moby/buildkit/worker/label"
	dockerclient "github.com/moby/moby/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/grpc/codes"

	// Connection helpers register their address schemes when imported, as
	// in buildctl: docker-container://, kube-pod://, podman-container://,
	// nerdctl-container://, ssh://.
	_ "github.com/moby/buildkit/client/connhelper/dockercontainer"
	_ "github.com/moby/buildkit/client/connhelper/kubepod"
	_ "github.com/moby/buildkit/client/connhelper/nerdctlcontainer"
	_ "github.com/moby/buildkit/client/connhelper/podmancontainer"
	_ "github.com/moby/buildkit/client/connhelper/ssh"
)

// DefaultAddr is where BuildKit listens when nothing says otherwise.
const DefaultAddr = "unix:///run/buildkit/buildkitd.sock"

// defaultAddr is DefaultAddr; tests point it elsewhere.
var defaultAddr = DefaultAddr

// HowToGetADaemon ends every "cannot reach" message.
const HowToGetADaemon = "start Docker, or a BuildKit daemon with `make buildkitd` (as root on Linux); or point --addr or BUILDKIT_HOST at a running one " +
	"(docker://HOST for a Docker Engine, e.g. the Host `docker context inspect` shows)"

// UnreachableError says no daemon answered at an address.
type UnreachableError struct {
	Addr string
	Err  error
}

func (e *UnreachableError) Error() string {
	if host, ok := DockerHost(e.Addr); ok {
		return fmt.Sprintf("cannot reach Docker Engine at %s: %v; %s", host, e.Err, HowToGetADaemon)
	}
	return fmt.Sprintf("cannot reach a BuildKit daemon at %s: %v; %s", e.Addr, e.Err, HowToGetADaemon)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// worker is what a daemon's default worker builds: its platform, the
// platform built on, and every platform it can run, natively or emulated;
// and the daemon's address, as open chose it.
type worker struct {
	addr      string
	runs      string // what the daemon runs, as said in messages: "BuildKit v0.34.2"
	platform  ocispecs.Platform
	platforms []ocispecs.Platform
}

// canRun reports whether the daemon runs binaries of p.
func (d worker) canRun(p ocispecs.Platform) bool {
	return platforms.Any(d.platforms...).Match(platforms.Normalize(p))
}

// open opens a client on opt.Addr, makes sure a daemon answers within
// the timeout and has what the run uses (needsOf), and returns what its
// default worker builds. An empty opt.Addr is the default: a BuildKit
// daemon at DefaultAddr, else the Docker Engine EnvDockerHost picks, said
// in one line on opt.ProgressOut; open sets opt.Addr to the one used, and
// tells opt.Settled.
func open(ctx context.Context, opt *Options) (*client.Client, worker, error) {
	settled := func() {
		if opt.Settled != nil {
			opt.Settled(opt.Addr)
		}
	}
	if opt.Addr != "" {
		settled()
		return connectTo(ctx, *opt)
	}
	opt.Addr = defaultAddr
	c, d, err := connectTo(ctx, *opt)
	var bk *UnreachableError
	if !errors.As(err, &bk) {
		if err == nil {
			settled()
		}
		return c, d, err
	}
	host, from, err := EnvDockerHost()
	if err != nil {
		return nil, d, &NoDaemonError{BuildKitAddr: defaultAddr, BuildKit: bk, DockerHost: from, Docker: err}
	}
	if err := CheckDockerHost(host); err != nil {
		return nil, d, &NoDaemonError{BuildKitAddr: defaultAddr, BuildKit: bk, DockerHost: host, Docker: fmt.Errorf("%s %q: %w", from, host, err)}
	}
	opt.Addr = DockerScheme + host
	c, d, err = connectTo(ctx, *opt)
	var dk *UnreachableError
	if errors.As(err, &dk) {
		return nil, d, &NoDaemonError{BuildKitAddr: defaultAddr, BuildKit: bk, DockerHost: host, Docker: dk}
	}
	if opt.ProgressOut != nil {
		context := ""
		if strings.HasPrefix(from, "Docker context ") {
			context = " (" + from + ")"
		}
		fmt.Fprintf(opt.ProgressOut, "llbgen: no BuildKit daemon at %s; building on Docker Engine at %s%s\n", defaultAddr, host, context)
	}
	if err == nil {
		settled()
	}
	return c, d, err
}

// connectTo is connect to one address.
func connectTo(ctx context.Context, opt Options) (*client.Client, worker, error) {
	var none worker
	timeout := opt.ConnectTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, api, err := dial(cctx, opt)
	if err != nil {
		return nil, none, &UnreachableError{Addr: opt.Addr, Err: err}
	}
	if api != nil {
		defer api.Close() // its idle connections; the sessions' dials still work
	}
	unreachable := func(err error) error {
		c.Close()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) || cctx.Err() != nil {
			err = fmt.Errorf("no answer within %s", timeout)
		}
		return &UnreachableError{Addr: opt.Addr, Err: err}
	}
	workers, err := c.ListWorkers(cctx)
	if err != nil {
		return nil, none, unreachable(err)
	}
	if len(workers) == 0 || len(workers[0].Platforms) == 0 {
		c.Close()
		return nil, none, fmt.Errorf("%s has no worker", describe(opt.Addr))
	}
	f := engineFacts{where: describe(opt.Addr), docker: api != nil}
	_, f.containerdStore = workers[0].Labels[label.Snapshotter]
	info, err := c.Info(cctx)
	switch {
	case grpcerrors.Code(err) == codes.Unimplemented: // older than v0.11
		if api != nil {
			if v, err := api.ServerVersion(cctx, dockerclient.ServerVersionOptions{}); err == nil {
				f.engine = v.Version
			}
		}
	case err != nil:
		return nil, none, unreachable(err)
	default:
		f.buildkit = info.BuildkitVersion.Version
	}
	if err := checkNeeds(f, needsOf(opt)); err != nil {
		c.Close()
		return nil, none, err
	}
	_, runs := f.runs()
	d := worker{addr: opt.Addr, runs: runs, platform: platforms.Normalize(workers[0].Platforms[0])}
	for _, p := range workers[0].Platforms {
		d.platforms = append(d.platforms, platforms.Normalize(p))
	}
	return c, d, nil
}

// dial opens a client on opt.Addr; for a Docker Engine, it returns the
// engine's API client too.
func dial(ctx context.Context, opt Options) (*client.Client, *dockerclient.Client, error) {
	if host, ok := DockerHost(opt.Addr); ok {
		return dialDocker(ctx, host)
	}
	var opts []client.ClientOpt
	if opt.TLS.CACert != "" {
		name := opt.TLS.ServerName
		if name == "" {
			if u, err := url.Parse(opt.Addr); err == nil {
				name = u.Hostname()
			}
		}
		opts = append(opts, client.WithServerConfig(name, opt.TLS.CACert))
	}
	if opt.TLS.Cert != "" || opt.TLS.Key != "" {
		opts = append(opts, client.WithCredentials(opt.TLS.Cert, opt.TLS.Key))
	}
	c, err := client.New(ctx, opt.Addr, opts...)
	return c, nil, err
}
