package daemon

import (
	"context"
	"fmt"

	"github.com/containerd/platforms"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/util/grpcerrors"
	"google.golang.org/grpc/codes"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/plan"
)

// prepared is the graph of the binaries that can be built.
type prepared struct {
	pl  *plan.Plan
	g   *graph.Graph
	idx map[string]int // binary name -> index in results
}

// prepare makes the run's plan with the daemon's facts and the graph of
// what can be built; binaries the plan refused get their cause. The graph
// is nil when nothing can be built. A refusal of the whole run is a
// *refusedError, which Session returns as it is.
func (s *solve) prepare(ctx context.Context, gc gateway.Client) (*prepared, error) {
	pl, err := makePlan(ctx, s.opt.planInput(s.list), s.worker.facts(gc))
	if err != nil {
		return nil, err
	}
	at := map[string]int{}
	for i, r := range s.results {
		at[r.Binary.Name] = i
	}
	p := &prepared{pl: pl, idx: map[string]int{}}
	for _, b := range pl.List.Binaries() {
		i, ok := at[b.Name]
		if !ok {
			return nil, fmt.Errorf("the plan builds %s, which is not in the list", b.Name)
		}
		s.results[i].Platform = platforms.Format(pl.PlatformOf(b))
		s.results[i].Digest = pl.Digest(b)
		if why, refused := pl.Refused[b.Name]; refused {
			s.results[i].Cause = why.Cause
			continue
		}
		p.idx[b.Name] = i
	}
	list := pl.Buildable()
	if list == nil {
		return nil, ctx.Err()
	}
	pl.Graph.OwnTool = s.opt.ownTool.serves(pl.Graph.Platform)
	g, err := graph.Define(list, pl.Graph)
	if err != nil {
		return nil, fmt.Errorf("making the graph: %w", err)
	}
	p.g = g
	return p, nil
}

// makePlan is plan.Make inside a session: a refusal of the run comes back
// as a *refusedError, for Session to return as it is; a lost connection
// or a cancellation as it is, for runError to explain.
func makePlan(ctx context.Context, in plan.Input, d plan.Daemon) (*plan.Plan, error) {
	p, err := plan.Make(ctx, in, d)
	if err != nil && ctx.Err() == nil && grpcerrors.Code(err) != codes.Unavailable {
		return nil, &refusedError{err}
	}
	return p, err
}

// refusedError is the plan's refusal of a whole run, from inside the
// session's build function: BuildKit sends that function's error through
// the daemon, which keeps only its text, so Session keeps the error itself.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// prepareIn prepares in a session of its own: the plan's resolves and
// toolchain check are solves too.
func (s *solve) prepareIn(ctx context.Context, ss sessions) (*prepared, error) {
	var p *prepared
	err := ss.session(ctx, func(ctx context.Context, gc gateway.Client) (*gateway.Result, error) {
		var err error
		p, err = s.prepare(ctx, gc)
		return nil, err
	}, sessionOpt{name: "llbgen plan"})
	return p, err
}
