package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/lock"
	"github.com/llbgen/llbgen/pkg/outdir"
	"github.com/llbgen/llbgen/pkg/targets"
	"github.com/moby/buildkit/client/llb"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/util/grpcerrors"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/grpc/codes"
)

// solve is the state of one build session.
type solve struct {
	list     *targets.List
	out      *outdir.Dir
	opt      Options
	platform ocispecs.Platform
	col      *collector
	results  []Result // one per target, in list order
	errs     []error  // each target's solve error
	// returnResult makes the session's result the verified binaries, for
	// an exporter (provenance) to see.
	returnResult bool
}

func newSolve(list *targets.List, out *outdir.Dir, opt Options, platform ocispecs.Platform, col *collector) *solve {
	s := &solve{list: list, out: out, opt: opt, platform: platform, col: col,
		results: make([]Result, len(list.Targets)), errs: make([]error, len(list.Targets))}
	for i, t := range list.Targets {
		s.results[i] = Result{Target: t, File: t.FileName()}
	}
	return s
}

// build runs inside the session: resolve, make the graph, then solve every
// target in parallel and stage its binary. It fails only for the whole run.
func (s *solve) build(ctx context.Context, gc gateway.Client) (*gateway.Result, error) {
	resolved, unresolved := s.images(ctx, gc)
	if err, bad := unresolved[s.list.Go.Full]; bad {
		for i := range s.results {
			s.results[i].Cause = ImageCause("toolchain image", s.list.Go.Ref, err)
		}
		return nil, ctx.Err()
	}
	good := *s.list
	good.Targets = nil
	var idx []int
	for i, t := range s.list.Targets {
		if err, bad := unresolved[t.Image.Full]; bad {
			s.results[i].Cause = ImageCause("image", t.Image.Ref, err)
			continue
		}
		s.results[i].Digest = resolved[t.Image.Full].Digest
		good.Targets = append(good.Targets, t)
		idx = append(idx, i)
	}
	if len(good.Targets) == 0 {
		return nil, ctx.Err()
	}
	g, err := graph.Build(&good, s.opt.graphOptions(resolved))
	if err != nil {
		return nil, fmt.Errorf("making the graph: %w", err)
	}
	var wg sync.WaitGroup
	for k, t := range good.Targets {
		i := idx[k]
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.errs[i] = s.target(ctx, gc, g.Verified[t.Name], t, &s.results[i])
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil || !s.returnResult {
		return nil, err
	}
	return s.verifiedResult(ctx, gc, g, good.Targets, idx)
}

// verifiedResult solves the verified binaries together, as the session's
// result.
func (s *solve) verifiedResult(ctx context.Context, gc gateway.Client, g *graph.Graph, ts []targets.Target, idx []int) (*gateway.Result, error) {
	var states []llb.State
	for k, t := range ts {
		if s.errs[idx[k]] == nil {
			states = append(states, g.Verified[t.Name])
		}
	}
	st := llb.Scratch()
	if len(states) > 0 {
		st = llb.Merge(states)
	}
	def, err := st.Marshal(ctx, llb.Platform(s.platform))
	if err != nil {
		return nil, fmt.Errorf("marshalling the result: %w", err)
	}
	res, err := gc.Solve(ctx, gateway.SolveRequest{Definition: def.ToPB(), Evaluate: true})
	if err != nil {
		return nil, fmt.Errorf("solving the result: %w", err)
	}
	return res, nil
}

// images resolves the list's images on the daemon, or takes them from the
// lock.
func (s *solve) images(ctx context.Context, gc gateway.Client) (map[string]graph.Resolved, map[string]error) {
	if s.opt.Lock != nil {
		return s.opt.Lock.Resolved(), nil
	}
	return ResolveImages(ctx, gc, lock.Refs(s.list), s.platform)
}

// chunk keeps each read under gRPC's message size limit.
const chunk = 4 << 20

// target solves one target's verified binary and stages it.
func (s *solve) target(ctx context.Context, gc gateway.Client, st llb.State, t targets.Target, r *Result) error {
	def, err := st.Marshal(ctx, llb.Platform(s.platform))
	if err != nil {
		return fmt.Errorf("marshalling %s: %w", t.Name, err)
	}
	res, err := gc.Solve(ctx, gateway.SolveRequest{Definition: def.ToPB(), Evaluate: true})
	if err != nil {
		return fmt.Errorf("solving %s: %w", t.Name, err)
	}
	ref, err := res.SingleRef()
	if err != nil {
		return fmt.Errorf("solving %s: %w", t.Name, err)
	}
	name := t.FileName()
	sum, size, err := s.copyOut(ctx, ref, name, 0o755)
	if err != nil {
		return fmt.Errorf("reading the verified binary of %s: %w", t.Name, err)
	}
	if _, _, err := s.copyOut(ctx, ref, name+graph.BuildInfoSuffix, 0o644); err != nil {
		return fmt.Errorf("reading the build information of %s: %w", t.Name, err)
	}
	r.Size, r.SHA256, r.Verified = size, sum, true
	return nil
}

// copyOut stages one file of a solved result in the output directory, with
// its time, and returns its sha256 and size.
func (s *solve) copyOut(ctx context.Context, ref gateway.Reference, name string, mode os.FileMode) (string, int64, error) {
	stat, err := ref.StatFile(ctx, gateway.StatRequest{Path: name})
	if err != nil {
		return "", 0, err
	}
	h := sha256.New()
	err = s.out.Write(name, mode, time.Unix(0, stat.ModTime), func(f io.Writer) error {
		w := io.MultiWriter(f, h)
		for off := 0; off < int(stat.Size); off += chunk {
			data, err := ref.ReadFile(ctx, gateway.ReadRequest{Filename: name, Range: &gateway.FileRange{Offset: off, Length: min(chunk, int(stat.Size)-off)}})
			if err != nil {
				return err
			}
			if _, err := w.Write(data); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), stat.Size, nil
}

// lostConnection picks out a broken connection among per-target errors: it
// fails the run rather than the targets.
func (s *solve) lostConnection() error {
	for _, err := range s.errs {
		if err != nil && grpcerrors.Code(err) == codes.Unavailable {
			return err
		}
	}
	return nil
}

// explainFailures gives every failed target its one-line cause, read from
// the progress the daemon sent.
func (s *solve) explainFailures() {
	for i, err := range s.errs {
		if err != nil && s.results[i].Cause == "" {
			s.results[i].Cause = s.col.cause(s.results[i].Target, err)
		}
	}
}

// files names every output file of the list.
func (s *solve) files() []string {
	var names []string
	for _, t := range s.list.Targets {
		names = append(names, t.FileName())
	}
	return names
}
