package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/solver/pb"
	"github.com/moby/buildkit/util/grpcerrors"
	digest "github.com/opencontainers/go-digest"
	"google.golang.org/grpc/codes"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/plan"
	"github.com/llbgen/llbgen/pkg/targets"
)

// Matrix is every binary of a list run in every image of the list.
type Matrix struct {
	Rows    []MatrixRow    // one per binary, in list order
	Columns []graph.Column // one per image and platform, in list order
}

// MatrixRow is one binary and its cells, one per column.
type MatrixRow struct {
	Binary   targets.Binary
	Platform string
	Cause    string // why the binary could not be built; then Cells is nil
	// Vertex and Stage are the vertex whose failure Cause tells and its
	// stage, when one is known (see Result.Vertex).
	Vertex digest.Digest
	Stage  graph.Stage
	Cells  []Cell
}

// Cell is one binary run in one image: `version`, network none, no shell.
type Cell struct {
	OK     bool   `json:"ok"`
	Output string `json:"output"`
	Cause  string `json:"cause"`
	// OtherPlatform: the binary is for another platform than the image's,
	// so it was not run there.
	OtherPlatform bool `json:"other_platform"`
	// NotRun: the cell says nothing either way: the daemon could not run
	// the binary's platform (no emulator), or the cell could not be solved.
	NotRun bool `json:"not_run"`

	err   error  // the solve's, when the cell could not be run at all
	where string // what its cause starts with then: "could not run it in IMAGE (PLATFORM): "
}

// Built counts the rows whose binary was built.
func (m *Matrix) Built() int {
	n := 0
	for _, r := range m.Rows {
		if r.Cause == "" {
			n++
		}
	}
	return n
}

// RunMatrix builds the list's binaries on the daemon, then runs each in
// each target image, all in parallel, and reads back what happened. It
// writes nothing. It returns an error only when the run as a whole failed.
func RunMatrix(ctx context.Context, list *targets.List, opt Options) (*Matrix, error) {
	opt.Provenance = false
	var s *solve
	var m *Matrix
	err := withDaemon(ctx, opt, func(k *daemonConn) error {
		s = newSolve(list, nil, k.opt, k.worker, k.col)
		var err error
		m, err = s.matrix(ctx, k)
		return err
	})
	if err == nil {
		err = s.lostInMatrix(ctx, m)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("canceled: %w", ctx.Err())
		}
		return nil, err
	}
	s.explainMatrix(m)
	return m, nil
}

// lostInMatrix fails the matrix when the connection broke in a row or a
// cell.
func (s *solve) lostInMatrix(ctx context.Context, m *Matrix) error {
	for _, r := range m.Rows {
		for _, c := range r.Cells {
			if c.err != nil && grpcerrors.Code(c.err) == codes.Unavailable {
				return runError(ctx, s.opt.Addr, c.err)
			}
		}
	}
	if err := s.lostConnection(); err != nil {
		return runError(ctx, s.opt.Addr, err)
	}
	return nil
}

// explainMatrix gives the rows whose binary was not built, and the cells
// that could not be run, their causes, classified as a build's are. Call
// it once the sessions are over: a failed step's last logs may arrive
// after its solve returned.
func (s *solve) explainMatrix(m *Matrix) {
	for i := range m.Rows {
		row := &m.Rows[i]
		if err := s.errs[i]; err != nil {
			e := s.col.explain(s.list, err)
			row.Vertex, row.Stage, row.Cause = e.vertex, e.stage, e.cause
			row.Cells = nil
		}
		for j := range row.Cells {
			if c := &row.Cells[j]; c.err != nil {
				c.Cause = OneLine(c.where + s.col.explain(s.list, c.err).cause)
			}
		}
	}
}

// matrix resolves the images and makes the graph in one session, then
// builds every binary and runs it in every column in a session of its own
// (see sessions), up to maxMatrixRows at once; a binary that does not build
// leaves its error in s.errs.
func (s *solve) matrix(ctx context.Context, ss sessions) (*Matrix, error) {
	p, err := s.prepareIn(ctx, ss)
	if err != nil {
		return nil, err
	}
	m := &Matrix{Rows: make([]MatrixRow, len(s.results))}
	for i, r := range s.results {
		m.Rows[i] = MatrixRow{Binary: r.Binary, Platform: r.Platform, Cause: r.Cause}
	}
	if p == nil {
		return m, ctx.Err()
	}
	m.Columns = p.g.Columns()
	// A row runs a cell per column at once: fewer rows than a build's
	// binaries at a time. (The static binaries of a platform are one
	// compile, so their cells in one column are one vertex, run once.)
	s.parallel = min(s.parallel, maxMatrixRows)
	compiled := func(name string) []llb.State { return []llb.State{p.g.Compiled[name]} }
	s.eachBinary(ctx, p, compiled, func(ctx context.Context, defs []*pb.Definition, i int) error {
		def := defs[0]
		row := &m.Rows[i]
		var err error
		// A binary that did not build fails its session, for BuildKit's
		// build history; a cell that failed does not.
		serr := ss.session(ctx, func(ctx context.Context, gc gateway.Client) (*gateway.Result, error) {
			err = s.row(ctx, gc, p.g, def, row, m.Columns)
			return nil, err
		}, sessionOpt{name: "matrix " + s.results[i].File})
		if err == nil {
			err = serr
		}
		if err != nil {
			row.Cells = nil
			return err
		}
		// A cell that lost the connection stops the run (lostInMatrix).
		for _, c := range row.Cells {
			if c.err != nil && grpcerrors.Code(c.err) == codes.Unavailable {
				return c.err
			}
		}
		return nil
	})
	return m, ctx.Err()
}

// row builds one binary, its compiled state def, then runs it in every
// column, in parallel; the error is the binary's build's.
func (s *solve) row(ctx context.Context, gc gateway.Client, g *graph.Graph, def *pb.Definition, row *MatrixRow, columns []graph.Column) error {
	if _, err := s.solveDef(ctx, gc, def); err != nil {
		return err
	}
	row.Cells = make([]Cell, len(columns))
	var cells sync.WaitGroup
	for j, c := range columns {
		cells.Add(1)
		go func() {
			defer cells.Done()
			row.Cells[j] = s.cell(ctx, gc, g, row.Binary.Name, row.Platform, c)
		}()
	}
	cells.Wait()
	return nil
}

// cell runs one binary, built for platform, in one column's image and
// reads its verdict.
func (s *solve) cell(ctx context.Context, gc gateway.Client, g *graph.Graph, name, platform string, c graph.Column) Cell {
	failed := func(err error) Cell {
		where := fmt.Sprintf("could not run it in %s (%s): ", c.Image.Ref, platforms.Format(c.Platform))
		return Cell{Cause: where + plan.FirstLine(err.Error()), NotRun: true, err: err, where: where}
	}
	// A binary is not run in an image of another platform: the daemon may
	// emulate it, the image's own machines need not.
	if platform != platforms.Format(c.Platform) {
		return Cell{OtherPlatform: true, Cause: fmt.Sprintf("the binary is for %s, the image for %s", platform, platforms.Format(c.Platform))}
	}
	res, err := s.evaluate(ctx, gc, func() (llb.State, error) { return g.Cell(name, c) })
	if err != nil {
		return failed(err)
	}
	ref, err := res.SingleRef()
	if err != nil {
		return failed(err)
	}
	// The cell ran in the column's image, whose code could write anything
	// there: read a bounded prefix (the stage tool writes well under this).
	data, err := ref.ReadFile(ctx, gateway.ReadRequest{Filename: graph.CellFile, Range: &gateway.FileRange{Length: maxCellBytes}})
	if err != nil {
		return failed(err)
	}
	var cell Cell
	if len(data) >= maxCellBytes {
		return failed(fmt.Errorf("reading %s: more than %d bytes, not what the stage tool writes", graph.CellFile, maxCellBytes))
	}
	if err := json.Unmarshal(data, &cell); err != nil {
		return failed(fmt.Errorf("reading %s: %w", graph.CellFile, err))
	}
	return cell
}

// maxCellBytes bounds a cell's result as llbgen reads it back.
const maxCellBytes = 256 << 10

// maxMatrixRows bounds the matrix rows solved at once: each runs a cell in
// every column.
const maxMatrixRows = 32
