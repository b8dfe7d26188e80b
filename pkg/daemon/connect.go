package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

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

// HowToGetADaemon ends every "cannot reach" message.
const HowToGetADaemon = "start one with `make buildkitd` (as root on Linux), or point --addr or BUILDKIT_HOST at a running daemon"

// UnreachableError says no daemon answered at an address.
type UnreachableError struct {
	Addr string
	Err  error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach a BuildKit daemon at %s: %v; %s", e.Addr, e.Err, HowToGetADaemon)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// worker is what a daemon's default worker builds: its platform, the
// platform built on, and every platform it can run, natively or emulated.
type worker struct {
	platform  ocispecs.Platform
	platforms []ocispecs.Platform
}

// canRun reports whether the daemon runs binaries of p.
func (d worker) canRun(p ocispecs.Platform) bool {
	return platforms.Any(d.platforms...).Match(platforms.Normalize(p))
}

// connect opens a client, makes sure a daemon answers within the timeout,
// and returns what its default worker builds.
func connect(ctx context.Context, opt Options) (*client.Client, worker, error) {
	var none worker
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
	timeout := opt.ConnectTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := client.New(cctx, opt.Addr, opts...)
	if err != nil {
		return nil, none, &UnreachableError{Addr: opt.Addr, Err: err}
	}
	workers, err := c.ListWorkers(cctx)
	if err != nil {
		c.Close()
		if ctx.Err() != nil {
			return nil, none, ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) || cctx.Err() != nil {
			err = fmt.Errorf("no answer within %s", timeout)
		}
		return nil, none, &UnreachableError{Addr: opt.Addr, Err: err}
	}
	if len(workers) == 0 || len(workers[0].Platforms) == 0 {
		c.Close()
		return nil, none, fmt.Errorf("the BuildKit daemon at %s has no worker", opt.Addr)
	}
	d := worker{platform: platforms.Normalize(workers[0].Platforms[0])}
	for _, p := range workers[0].Platforms {
		d.platforms = append(d.platforms, platforms.Normalize(p))
	}
	return c, d, nil
}
