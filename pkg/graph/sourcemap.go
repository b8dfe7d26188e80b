package graph

import (
	"errors"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/errdefs"
	"github.com/moby/buildkit/solver/pb"

	"github.com/llbgen/llbgen/pkg/targets"
)

// SourceLanguage is the language a target list's source map names, as
// GitHub's linguist spells it (BuildKit's convention).
const SourceLanguage = "YAML"

// SourceInfo is a target list file as BuildKit carries it in a source map
// or a located error (errdefs.Source).
func SourceInfo(file string, data []byte) *pb.SourceInfo {
	return &pb.SourceInfo{Filename: file, Language: SourceLanguage, Data: data}
}

// SourceRange is the place p in a source map: its line, from its column
// (1-based, as buildx gives the columns of bake files).
func SourceRange(p targets.Pos) *pb.Range {
	at := &pb.Position{Line: int32(p.Line), Character: int32(p.Col)}
	return &pb.Range{Start: at, End: at}
}

// LinesRange is whole lines of a list in a source map.
func LinesRange(l targets.Lines) *pb.Range {
	return &pb.Range{Start: &pb.Position{Line: int32(l.First)}, End: &pb.Position{Line: int32(l.Last)}}
}

// MaxSources bounds the pieces of the list one error carries for buildctl
// and buildx to print (errdefs.Source): each carries the whole file, up to
// targets.MaxFileBytes, in the error's gRPC details.
const MaxSources = 5

// WithListSource attaches the list file's lines to each refusal of a list
// (a targets.ErrorList or *targets.Error) that points into file, the first
// MaxSources of them, so buildctl and buildx print the lines under the
// error, as they do for a Dockerfile. Other errors are returned as they
// are.
func WithListSource(err error, file string, data []byte) error {
	var list targets.ErrorList
	var one *targets.Error
	switch {
	case errors.As(err, &list):
	case errors.As(err, &one):
		list = targets.ErrorList{one}
	default:
		return err
	}
	info := SourceInfo(file, data)
	n := 0
	for _, e := range list {
		if n == MaxSources {
			break
		}
		if e.Pos.File == file && e.Pos.Line > 0 {
			err = errdefs.WithSource(err, &errdefs.Source{Info: info, Ranges: []*pb.Range{SourceRange(e.Pos)}})
			n++
		}
	}
	return err
}

// at places a vertex at lines of the list, one location each, so BuildKit
// shows each under the vertex's error; nothing when the list has no file.
func (b *builder) at(lines ...targets.Lines) marks {
	var m marks
	if b.sm == nil {
		return m
	}
	for _, l := range lines {
		if !l.IsZero() {
			m = append(m, b.sm.Location([]*pb.Range{LinesRange(l)}))
		}
	}
	return m
}

// newSourceMap is the list file as a source map, or nil for a list made
// from --image flags.
func newSourceMap(list *targets.List) *llb.SourceMap {
	if list.Source == nil {
		return nil
	}
	return llb.NewSourceMap(nil, list.File, SourceLanguage, list.Source)
}
