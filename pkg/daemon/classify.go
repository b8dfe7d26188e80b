package daemon

import (
	"context"
	"errors"
	"strings"

	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/solver/errdefs"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"

	"github.com/llbgen/llbgen/pkg/graph"
)

// Failures are classified by the failing vertex's digest, never by its
// display name: every vertex llbgen makes carries its graph.Stage, the
// collector learns them from each definition solved (recorder), and a
// failed solve names its vertex (errdefs.VertexError) or, failing that,
// the progress stream reports which vertices of its definition failed.

// recorder is the gateway client the build functions get: it has the
// collector learn the stages of every definition solved, and a failed
// solve's error carries the vertices of its definition, among which
// culprit looks for the cause.
type recorder struct {
	gateway.Client
	col *collector
}

func (r recorder) Solve(ctx context.Context, req gateway.SolveRequest) (*gateway.Result, error) {
	if req.Definition == nil {
		return r.Client.Solve(ctx, req)
	}
	r.col.learn(req.Definition)
	res, err := r.Client.Solve(ctx, req)
	if err != nil {
		return nil, &solveError{err: err, vertices: vertices(req.Definition)}
	}
	return res, nil
}

// solveError is a failed solve's error and the vertices it solved.
type solveError struct {
	err      error
	vertices map[digest.Digest]bool
}

func (e *solveError) Error() string { return e.err.Error() }
func (e *solveError) Unwrap() error { return e.err }

// vertices are the digests of a definition's ops, as BuildKit names them.
func vertices(def *pb.Definition) map[digest.Digest]bool {
	out := make(map[digest.Digest]bool, len(def.Def))
	for _, dt := range def.Def {
		out[digest.FromBytes(dt)] = true
	}
	return out
}

// failure is a stage that failed and what it said.
type failure struct {
	vertex digest.Digest
	stage  graph.Stage
	log    vertexLog
	err    string // the vertex's error as the progress gave it, or the solve's
}

// culprit finds the stage that failed a solve: the vertex the solve error
// names; or else, among the vertices of the definition solved, the failed
// one that comes first on a binary's way through the graph (a solve can
// lose its vertex: BuildKit's gateway answered some failures with an error
// of its own). ok is false when no stage of llbgen's is known to have
// failed.
func (c *collector) culprit(solveErr error) (f failure, ok bool) {
	if c == nil || solveErr == nil {
		return failure{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var ve *errdefs.VertexError
	if errors.As(solveErr, &ve) && ve.Vertex != nil {
		d := digest.Digest(ve.Digest)
		if s, known := c.stages[d]; known {
			f := failure{vertex: d, stage: s, log: c.logOf(d), err: ve.Error()}
			if f.log.err != "" {
				f.err = f.log.err
			}
			return f, true
		}
	}
	var se *solveError
	if !errors.As(solveErr, &se) {
		return failure{}, false
	}
	var best digest.Digest
	for d, v := range c.vertices {
		s, known := c.stages[d]
		if !known || !se.vertices[d] || v.err == "" || canceled(v.err) {
			continue
		}
		if !ok || earlier(s, d, c.stages[best], best) {
			best, ok = d, true
		}
	}
	if !ok {
		return failure{}, false
	}
	l := c.logOf(best)
	return failure{vertex: best, stage: c.stages[best], log: l, err: l.err}, true
}

// canceled tells a vertex stopped because its solve was, not one that
// failed.
func canceled(vertexErr string) bool {
	return strings.Contains(vertexErr, context.Canceled.Error())
}

// earlier orders failed stages by where a binary meets them, then by
// digest so the choice does not depend on map order.
func earlier(a graph.Stage, ad digest.Digest, b graph.Stage, bd digest.Digest) bool {
	if ra, rb := rank(a.Kind), rank(b.Kind); ra != rb {
		return ra < rb
	}
	return ad < bd
}

func rank(k graph.Kind) int {
	for i, c := range causes {
		if c.kind == k {
			return i
		}
	}
	return len(causes)
}
