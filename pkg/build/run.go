package build

import (
	"context"
	"fmt"
	"io"

	"github.com/docker/cli/cli/config"
	"github.com/llbgen/llbgen/pkg/outdir"
	"github.com/llbgen/llbgen/pkg/targets"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/moby/buildkit/util/grpcerrors"
	"google.golang.org/grpc/codes"
)

// LostError says the connection to the daemon broke during the build.
type LostError struct {
	Addr string
	Err  error
}

func (e *LostError) Error() string {
	return fmt.Sprintf("lost the connection to BuildKit at %s (did the daemon stop?): %v; nothing was written, run again once it is back", e.Addr, firstLine(e.Err.Error()))
}

func (e *LostError) Unwrap() error { return e.Err }

// Run builds list on the daemon and lands the verified binaries in out. It
// returns an error only when the run as a whole failed (no daemon, lost
// connection, canceled); then out is left as it was. Failed targets are in
// the Outcome.
func Run(ctx context.Context, list *targets.List, out *outdir.Dir, opt Options) (*Outcome, error) {
	c, platform, err := connect(ctx, opt)
	if err != nil {
		return nil, err
	}
	defer c.Close()

	s := newSolve(list, out, opt, platform)
	disp, err := startDisplay(ctx, opt.ProgressOut, opt.Progress, s.col)
	if err != nil {
		return nil, err
	}
	_, err = c.Build(ctx, client.SolveOpt{Session: attachables()}, "llbgen", s.build, disp.status)
	disp.wait()
	if err == nil {
		err = s.lostConnection()
	}
	if err != nil {
		out.Discard()
		return nil, runError(ctx, opt.Addr, err)
	}
	s.explainFailures()
	if err := out.Commit(s.files()); err != nil {
		return nil, fmt.Errorf("writing into %s: %w", out.Path(), err)
	}
	return &Outcome{Out: out, Results: s.results}, nil
}

// runError says why a whole run failed.
func runError(ctx context.Context, addr string, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("canceled; the output directory was left as it was: %w", ctx.Err())
	case grpcerrors.Code(err) == codes.Unavailable:
		return &LostError{Addr: addr, Err: err}
	}
	return fmt.Errorf("building on %s: %w", addr, err)
}

// attachables give the daemon the user's registry credentials
// (~/.docker/config.json, DOCKER_CONFIG), as buildctl does.
func attachables() []session.Attachable {
	cfg := config.LoadDefaultConfigFile(io.Discard)
	return []session.Attachable{authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: authprovider.LoadAuthConfig(cfg),
	})}
}
