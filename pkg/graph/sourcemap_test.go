package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/errdefs"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"

	"github.com/llbgen/llbgen/pkg/targets"
)

// locations is where the source map of def places vertex d, as lines.
func locations(t *testing.T, def *pb.Definition, d digest.Digest) []targets.Lines {
	t.Helper()
	var out []targets.Lines
	for _, loc := range def.GetSource().GetLocations()[string(d)].GetLocations() {
		if loc.SourceIndex != 0 || len(loc.Ranges) != 1 {
			t.Fatalf("%s: location %v, want one range of the list file", d, loc)
		}
		r := loc.Ranges[0]
		out = append(out, targets.Lines{First: int(r.Start.Line), Last: int(r.End.Line)})
	}
	return out
}

// Each target's stages point at its lines of the list, the shared
// toolchain stages at go:, the download at helper:, through the
// definition's source map, as BuildKit reads it when a vertex fails.
func TestSourceMap(t *testing.T) {
	l := stageList(t)
	g := mustBuild(t, l, stageOptions())
	def, err := g.Output.Marshal(context.Background(), llb.Platform(amd64))
	if err != nil {
		t.Fatal(err)
	}
	pdef := def.ToPB()
	infos := pdef.GetSource().GetInfos()
	if len(infos) != 1 || infos[0].Filename != "targets.yaml" || infos[0].Language != "YAML" || !bytes.Equal(infos[0].Data, []byte(stageYAML)) {
		t.Fatalf("source infos %v, want the list file", infos)
	}
	m := marshalAll(t, g.Output)
	stages := Stages(m.def)
	byTarget := map[string]targets.Lines{}
	for _, tg := range l.Targets {
		byTarget[tg.Name] = tg.Lines
	}
	for _, bin := range l.Binaries() {
		// a static binary's compile is its platform's, at the go: line (below)
		at := []digest.Digest{head(t, g.Delivered[bin.Name])}
		if bin.Target.Cgo {
			at = append(at, head(t, g.Compiled[bin.Name]))
		}
		for _, d := range at {
			var want []targets.Lines
			for _, name := range stages[d].Binaries {
				for _, b := range l.Binaries() {
					if b.Name == name && !slices.Contains(want, b.Target.Lines) {
						want = append(want, b.Target.Lines)
					}
				}
			}
			got := locations(t, pdef, d)
			if !slices.Contains(got, bin.Target.Lines) || len(got) != len(want) {
				t.Errorf("%s of %s at %v, want %v (its target at %v)", stages[d].Kind, bin.Name, got, want, bin.Target.Lines)
			}
		}
	}
	// One target, at its lines alone.
	if got := locations(t, pdef, head(t, g.Compiled["runner-cgo"])); !slices.Equal(got, []targets.Lines{byTarget["runner-cgo"]}) {
		t.Errorf("runner-cgo's compile at %v, want %v", got, byTarget["runner-cgo"])
	}
	wantAt := map[Kind][]targets.Lines{
		KindStageTool:   {{First: 3, Last: 3}},
		KindStatic:      {{First: 3, Last: 3}},
		KindToolchain:   {{First: 3, Last: 3}},
		KindDownload:    {{First: 1, Last: 2}, {First: 3, Last: 3}}, // helper: and go:
		KindModuleCheck: {{First: 1, Last: 2}},
		KindExport:      nil,
		KindToolSource:  nil,
	}
	for d, s := range stages {
		want, ok := wantAt[s.Kind]
		if !ok {
			continue
		}
		if got := locations(t, pdef, d); !slices.Equal(got, want) {
			t.Errorf("%s at %v, want %v", s.Kind, got, want)
		}
	}
}

// A list made from --image flags has no file: no source map.
func TestNoSourceMapWithoutAFile(t *testing.T) {
	def, err := mustBuild(t, testList("docker:19.03.12"), Options{}).Output.Marshal(context.Background(), llb.Platform(amd64))
	if err != nil {
		t.Fatal(err)
	}
	if len(def.Source.GetInfos()) != 0 {
		t.Errorf("source infos %v for a list without a file", def.Source.GetInfos())
	}
	for d, locs := range def.Source.GetLocations() { // BuildKit lists every vertex, without locations
		if len(locs.GetLocations()) != 0 {
			t.Errorf("%s placed at %v in a list without a file", d, locs)
		}
	}
}

// A refused list carries its lines for buildctl and buildx to print, one
// source per refusal, and is still the refusals it was.
func TestWithListSource(t *testing.T) {
	data := []byte("helper:\n  version: 1.0\ntargets:\n  - image: Bad:ref\n")
	_, err := targets.Parse("targets.yaml", data)
	if err == nil {
		t.Fatal("the list parsed")
	}
	located := WithListSource(err, "targets.yaml", data)
	if located.Error() != err.Error() {
		t.Errorf("message %q, want %q", located.Error(), err.Error())
	}
	var list targets.ErrorList
	if !errors.As(located, &list) || len(list) != 2 {
		t.Fatalf("not the refusals: %v", located)
	}
	srcs := errdefs.Sources(located)
	if len(srcs) != 2 {
		t.Fatalf("%d sources, want one per refusal", len(srcs))
	}
	for i, s := range srcs {
		if s.Info.Filename != "targets.yaml" || !bytes.Equal(s.Info.Data, data) {
			t.Errorf("source %d: %v", i, s.Info)
		}
		if r := s.Ranges[0]; int(r.Start.Line) != list[i].Pos.Line || int(r.Start.Character) != list[i].Pos.Col {
			t.Errorf("source %d at %v, want %s", i, r, list[i].Pos)
		}
	}
	if other := errors.New("x"); WithListSource(other, "targets.yaml", data) != other {
		t.Error("an error that is no refusal changed")
	}
}

// Each source carries the whole list: a list with many refusals carries
// MaxSources of them, the first, not one per refusal.
func TestWithListSourceIsBounded(t *testing.T) {
	var src strings.Builder
	src.WriteString("helper:\n  version: v0.12.0\ntargets:\n")
	for i := range 30 {
		fmt.Fprintf(&src, "  - image: Bad:%d\n", i)
	}
	data := []byte(src.String())
	_, err := targets.Parse("targets.yaml", data)
	var list targets.ErrorList
	if !errors.As(err, &list) || len(list) != 30 {
		t.Fatalf("want 30 refusals, got %v", err)
	}
	srcs := errdefs.Sources(WithListSource(err, "targets.yaml", data))
	if len(srcs) != MaxSources {
		t.Fatalf("%d sources, want %d", len(srcs), MaxSources)
	}
	for i, s := range srcs {
		if int(s.Ranges[0].Start.Line) != list[i].Pos.Line {
			t.Errorf("source %d at line %d, want the refusal's, %d", i, s.Ranges[0].Start.Line, list[i].Pos.Line)
		}
	}
}
