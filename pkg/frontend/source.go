package frontend

import (
	"errors"
	"sort"

	"github.com/moby/buildkit/solver/errdefs"
	"github.com/moby/buildkit/solver/pb"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/plan"
	"github.com/llbgen/llbgen/pkg/targets"
)

// withSource attaches the lines of the list (file, data) that err is
// about, so buildctl and buildx print them under the error, as they do
// for a Dockerfile: a refusal of the list (graph.WithListSource) or of
// the plan (plan.Error's Lines: the go: key, a target's image, what a
// lock does not pin). Lines close together show as one piece. Other
// errors are returned as they are.
func withSource(err error, file string, data []byte) error {
	var pe *plan.Error
	if !errors.As(err, &pe) {
		return graph.WithListSource(err, file, data)
	}
	var at []targets.Pos
	for _, p := range pe.Lines {
		if p.File == file && p.Line > 0 {
			at = append(at, p)
		}
	}
	sort.Slice(at, func(i, j int) bool { return at[i].Line < at[j].Line })
	info := graph.SourceInfo(file, data)
	for i, n := 0, 0; i < len(at) && n < graph.MaxSources; n++ {
		// A piece runs while the next line is at most 4 lines on: BuildKit
		// prints every line from a piece's first to its last.
		j := i + 1
		for j < len(at) && at[j].Line-at[j-1].Line <= 4 {
			j++
		}
		var ranges []*pb.Range
		for _, p := range at[i:j] {
			ranges = append(ranges, graph.SourceRange(p))
		}
		err = errdefs.WithSource(err, &errdefs.Source{Info: info, Ranges: ranges})
		i = j
	}
	return err
}
