package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/util/grpcerrors"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/grpc/codes"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/outdir"
	"github.com/llbgen/llbgen/pkg/targets"
)

// solve is the state of one build session.
type solve struct {
	list    *targets.List
	out     *outdir.Dir
	opt     Options
	worker  worker
	col     *collector
	results []Result // one per binary, in list order
	errs    []error  // each binary's solve error
	// returnResult makes the session's result the verified binaries, for
	// an exporter (provenance) to see.
	returnResult bool
}

func newSolve(list *targets.List, out *outdir.Dir, opt Options, d worker, col *collector) *solve {
	bins := list.Binaries()
	s := &solve{list: list, out: out, opt: opt, worker: d, col: col,
		results: make([]Result, len(bins)), errs: make([]error, len(bins))}
	for i, b := range bins {
		p := d.platform
		if b.Platform != nil {
			p = *b.Platform
		}
		s.results[i] = Result{Target: b.Target, Binary: b, Platform: platforms.Format(p), File: b.FileName()}
	}
	return s
}

// prepared is the graph of the binaries whose images resolved.
type prepared struct {
	g   *graph.Graph
	idx map[string]int // binary name -> index in results
}

// prepare resolves the images and makes the graph of what can be built;
// binaries whose images did not resolve get their cause. The graph is nil
// when nothing can be built.
func (s *solve) prepare(ctx context.Context, gc gateway.Client) (*prepared, error) {
	resolved, unresolved := s.images(ctx, gc)
	goKey := graph.ImageKey{Ref: s.list.Go.Full, Platform: platforms.Format(s.worker.platform)}
	if err, bad := unresolved[goKey]; bad {
		for i := range s.results {
			s.results[i].Cause = ImageCause("toolchain image", s.list.Go.Ref, err)
		}
		return nil, ctx.Err()
	}
	good := *s.list
	good.Targets = nil
	p := &prepared{idx: map[string]int{}}
	i := 0
	for _, t := range s.list.Targets {
		bins := t.Binaries()
		cause := ""
		for k, b := range bins {
			for _, key := range imagesOf(s.list, b, s.worker.platform) {
				if err, bad := unresolved[key]; bad && cause == "" {
					name := key.Ref
					if key.Platform != platforms.Format(s.worker.platform) {
						name += " (" + key.Platform + ")"
					}
					cause = ImageCause(imageRole(s.list, t, key), name, err)
				}
			}
			s.results[i+k].Digest = resolved[graph.ImageKey{Ref: t.Image.Full, Platform: s.results[i+k].Platform}].Digest
			if pl := s.results[i+k].Platform; t.Cgo && cause == "" && b.Platform != nil && !s.worker.canRun(*b.Platform) {
				cause = fmt.Sprintf("a cgo target compiles on its own platform, and the daemon cannot run %s (no emulator); give it QEMU user emulation, or build %s without cgo", pl, pl)
			}
		}
		if cause != "" {
			// A target's files are built together or not at all.
			for k := range bins {
				s.results[i+k].Cause = cause
			}
		} else {
			good.Targets = append(good.Targets, t)
			for k, b := range bins {
				p.idx[b.Name] = i + k
			}
		}
		i += len(bins)
	}
	if len(good.Targets) == 0 {
		return nil, ctx.Err()
	}
	g, err := graph.Define(&good, s.opt.graphOptions(s.worker, resolved))
	if err != nil {
		return nil, fmt.Errorf("making the graph: %w", err)
	}
	p.g = g
	return p, nil
}

// imageRole names what an image is to a target in messages: its own
// "image", or the "toolchain image" (the go image, unless it is the
// target's own).
func imageRole(list *targets.List, t targets.Target, k graph.ImageKey) string {
	if k.Ref == list.Go.Full && k.Ref != t.Image.Full {
		return "toolchain image"
	}
	return "image"
}

// imagesOf lists the images one binary's stages use, besides the
// toolchain on the daemon's platform.
func imagesOf(list *targets.List, b targets.Binary, def ocispecs.Platform, target ...ocispecs.Platform) []graph.ImageKey {
	one := *list
	t := b.Target
	if b.Platform != nil {
		t.Platforms = []targets.Platform{{Platform: *b.Platform}}
	}
	one.Targets = []targets.Target{t}
	return graph.Images(&one, def, target...)
}

// build runs inside the session: resolve, make the graph, then solve every
// binary in parallel and stage it. It fails only for the whole run.
func (s *solve) build(ctx context.Context, gc gateway.Client) (*gateway.Result, error) {
	p, err := s.prepare(ctx, gc)
	if p == nil || err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	for name, i := range p.idx {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.errs[i] = s.binary(ctx, gc, p.g.Delivered[name], &s.results[i])
			if s.errs[i] == nil {
				s.results[i].Unverified = p.g.Unverified[name]
				s.results[i].Verified = s.results[i].Unverified == ""
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil || !s.returnResult {
		return nil, err
	}
	return s.verifiedResult(ctx, gc, p)
}

// verifiedResult solves the written binaries together, as the session's
// result.
func (s *solve) verifiedResult(ctx context.Context, gc gateway.Client, p *prepared) (*gateway.Result, error) {
	var states []llb.State
	for _, r := range s.results {
		if i, ok := p.idx[r.Binary.Name]; ok && s.errs[i] == nil {
			states = append(states, p.g.Delivered[r.Binary.Name])
		}
	}
	st := llb.Scratch()
	if len(states) > 0 {
		st = llb.Merge(states)
	}
	res, err := s.evaluate(ctx, gc, st)
	if err != nil {
		return nil, fmt.Errorf("solving the result: %w", err)
	}
	return res, nil
}

// images resolves the list's images on the daemon, or takes them from the
// lock.
func (s *solve) images(ctx context.Context, gc gateway.Client) (map[graph.ImageKey]graph.Resolved, map[graph.ImageKey]error) {
	if s.opt.Lock != nil {
		return s.opt.Lock.Resolved(), nil
	}
	return ResolveImages(ctx, gc, graph.Images(s.list, s.worker.platform))
}

// evaluate marshals st for the daemon's platform and solves it, waiting
// for the result. A solve error is returned as it is, so callers can tell
// a lost connection.
func (s *solve) evaluate(ctx context.Context, gc gateway.Client, st llb.State) (*gateway.Result, error) {
	def, err := st.Marshal(ctx, llb.Platform(s.worker.platform))
	if err != nil {
		return nil, fmt.Errorf("marshalling: %w", err)
	}
	return gc.Solve(ctx, gateway.SolveRequest{Definition: def.ToPB(), Evaluate: true})
}

// chunk keeps each read under gRPC's message size limit.
const chunk = 4 << 20

// binary solves one binary's verified state and stages it.
func (s *solve) binary(ctx context.Context, gc gateway.Client, st llb.State, r *Result) error {
	name := r.Binary.Name
	res, err := s.evaluate(ctx, gc, st)
	if err != nil {
		return fmt.Errorf("solving %s: %w", name, err)
	}
	ref, err := res.SingleRef()
	if err != nil {
		return fmt.Errorf("solving %s: %w", name, err)
	}
	// the binary and its build information land together or not at all
	u := s.out.Unit()
	sum, size, err := copyOut(ctx, u, ref, r.File, 0o755)
	if err != nil {
		u.Drop()
		return fmt.Errorf("reading the binary of %s: %w", name, err)
	}
	if _, _, err := copyOut(ctx, u, ref, r.File+graph.BuildInfoSuffix, 0o644); err != nil {
		u.Drop()
		return fmt.Errorf("reading the build information of %s: %w", name, err)
	}
	u.Stage()
	r.Size, r.SHA256 = size, sum
	return nil
}

// copyOut stages one file of a solved result in unit u, with its time, and
// returns its sha256 and size.
func copyOut(ctx context.Context, u *outdir.Unit, ref gateway.Reference, name string, mode os.FileMode) (string, int64, error) {
	stat, err := ref.StatFile(ctx, gateway.StatRequest{Path: name})
	if err != nil {
		return "", 0, err
	}
	h := sha256.New()
	err = u.Write(name, mode, time.Unix(0, stat.ModTime), func(f io.Writer) error {
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
			s.results[i].Cause = s.col.cause(s.results[i].Binary.Name, err)
		}
	}
}

// files names every output file of the list.
func (s *solve) files() []string {
	var names []string
	for _, b := range s.list.Binaries() {
		names = append(names, b.FileName())
	}
	return names
}
