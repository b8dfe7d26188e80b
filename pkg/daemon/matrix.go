package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/containerd/platforms"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/util/grpcerrors"
	"google.golang.org/grpc/codes"

	"github.com/llbgen/llbgen/pkg/graph"
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
	Cells    []Cell
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

	err error // the solve's, when the cell could not be run at all
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
	err := Session(ctx, opt, func(col *collector, d worker) gateway.BuildFunc {
		s = newSolve(list, nil, opt, d, col)
		return func(ctx context.Context, gc gateway.Client) (*gateway.Result, error) {
			var err error
			m, err = s.matrix(ctx, gc)
			return nil, err
		}
	}, "")
	if err == nil && s != nil && m != nil {
		for _, r := range m.Rows {
			for _, c := range r.Cells {
				if c.err != nil && grpcerrors.Code(c.err) == codes.Unavailable {
					err = c.err
				}
			}
		}
		if err == nil {
			err = s.lostConnection()
		}
		if err != nil {
			err = runError(ctx, opt.Addr, err)
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("canceled: %w", ctx.Err())
		}
		return nil, err
	}
	// Causes are read once the session is over: a failed step's last logs
	// may arrive after its solve returned.
	for i := range m.Rows {
		if err := s.errs[i]; err != nil {
			m.Rows[i].Cause = s.col.cause(m.Rows[i].Binary.Name, err)
			m.Rows[i].Cells = nil
		}
	}
	return m, nil
}

// matrix builds every binary and runs it in every column; a binary that
// does not build leaves its error in s.errs.
func (s *solve) matrix(ctx context.Context, gc gateway.Client) (*Matrix, error) {
	p, err := s.prepare(ctx, gc)
	if err != nil {
		return nil, err
	}
	m := &Matrix{Rows: make([]MatrixRow, len(s.results))}
	for i, r := range s.results {
		m.Rows[i] = MatrixRow{Binary: r.Binary, Platform: r.Platform, Cause: r.Cause}
	}
	if p == nil {
		return m, nil
	}
	m.Columns = p.g.Columns()
	var wg sync.WaitGroup
	for name, i := range p.idx {
		row := &m.Rows[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.evaluate(ctx, gc, p.g.Compiled[name]); err != nil {
				s.errs[i] = err
				return
			}
			row.Cells = make([]Cell, len(m.Columns))
			var cells sync.WaitGroup
			for j, c := range m.Columns {
				cells.Add(1)
				go func() {
					defer cells.Done()
					row.Cells[j] = s.cell(ctx, gc, p.g, name, row.Platform, c)
				}()
			}
			cells.Wait()
		}()
	}
	wg.Wait()
	return m, ctx.Err()
}

// cell runs one binary, built for platform, in one column's image and
// reads its verdict.
func (s *solve) cell(ctx context.Context, gc gateway.Client, g *graph.Graph, name, platform string, c graph.Column) Cell {
	failed := func(err error) Cell {
		return Cell{Cause: fmt.Sprintf("could not run it in %s (%s): %s", c.Image.Ref, platforms.Format(c.Platform), firstLine(err.Error())), NotRun: true, err: err}
	}
	// A binary is not run in an image of another platform: the daemon may
	// emulate it, the image's own machines need not.
	if platform != platforms.Format(c.Platform) {
		return Cell{OtherPlatform: true, Cause: fmt.Sprintf("the binary is for %s, the image for %s", platform, platforms.Format(c.Platform))}
	}
	st, err := g.Cell(name, c)
	if err != nil {
		return failed(err)
	}
	res, err := s.evaluate(ctx, gc, st)
	if err != nil {
		return failed(err)
	}
	ref, err := res.SingleRef()
	if err != nil {
		return failed(err)
	}
	// The cell ran in the column's image, whose code could write anything
	// there: read a bounded prefix (the verifier writes well under this).
	data, err := ref.ReadFile(ctx, gateway.ReadRequest{Filename: graph.CellFile, Range: &gateway.FileRange{Length: maxCellBytes}})
	if err != nil {
		return failed(err)
	}
	var cell Cell
	if len(data) >= maxCellBytes {
		return failed(fmt.Errorf("reading %s: more than %d bytes, not what the verifier writes", graph.CellFile, maxCellBytes))
	}
	if err := json.Unmarshal(data, &cell); err != nil {
		return failed(fmt.Errorf("reading %s: %w", graph.CellFile, err))
	}
	return cell
}

// maxCellBytes bounds a cell's result as llbgen reads it back.
const maxCellBytes = 256 << 10
