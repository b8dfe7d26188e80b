package daemon

import (
	"context"
	"slices"
	"testing"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/targets"
)

// testYAML has static targets on two platforms (two static compiles), two
// static targets of one image (one compile vertex), and a cgo target with
// setup.
const testYAML = `helper: {version: v0.12.0}
go: golang:1.26
targets:
  - image: docker:19.03.12
  - image: docker:19.03.12
    name: twin
  - image: alpine:3.12
    name: multi
    platforms: [linux/amd64, linux/arm64]
  - image: gitlab/gitlab-runner:v13.2.1
    name: runner-cgo
    cgo: true
    setup: [apt-get update, apt-get install -y gcc libc6-dev]
`

var amd64 = platforms.MustParse("linux/amd64")

func parseList(t *testing.T, yaml string) *targets.List {
	t.Helper()
	l, err := targets.Parse("targets.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// built is the real graph of a list, each binary's delivered state
// marshalled as the solve code solves it: the tests find vertices by the
// Stage the graph marked them with, never by name.
type built struct {
	list *targets.List
	g    *graph.Graph
	defs map[string]*pb.Definition // by binary name: its delivered state
}

func buildGraph(t *testing.T, list *targets.List, opt graph.Options) *built {
	t.Helper()
	if opt.Platform.OS == "" {
		opt.Platform = amd64
	}
	g, err := graph.Define(list, opt)
	if err != nil {
		t.Fatal(err)
	}
	b := &built{list: list, g: g, defs: map[string]*pb.Definition{}}
	for name, st := range g.Delivered {
		b.defs[name] = marshal(t, st)
	}
	return b
}

func marshal(t *testing.T, st llb.State) *pb.Definition {
	t.Helper()
	def, err := st.Marshal(context.Background(), llb.Platform(amd64))
	if err != nil {
		t.Fatal(err)
	}
	return def.ToPB()
}

// vertexOf is a vertex of kind k in binary name's definition, the one
// that matches, when given, the stage's step (a setup's) or image; of
// several, the first by digest (the two download steps).
func (b *built) vertexOf(t *testing.T, name string, k graph.Kind, match ...func(graph.Stage) bool) digest.Digest {
	t.Helper()
	var found []digest.Digest
	for d, s := range graph.Stages(b.defs[name]) {
		if s.Kind == k && (len(match) == 0 || match[0](s)) {
			found = append(found, d)
		}
	}
	if len(found) == 0 {
		t.Fatalf("%s: no %s vertex", name, k)
	}
	slices.Sort(found)
	return found[0]
}

// step matches a setup's step.
func step(n int) func(graph.Stage) bool {
	return func(s graph.Stage) bool { return s.Step == n }
}

// failedStatus is what the daemon's progress says of a failed vertex: its
// error, and its log split mid-line in two messages, as the daemon may.
func failedStatus(d digest.Digest, vertexErr, log string) *client.SolveStatus {
	s := &client.SolveStatus{Vertexes: []*client.Vertex{{Digest: d, Name: "any name", Error: vertexErr}}}
	if log != "" {
		half := len(log) / 2
		s.Logs = []*client.VertexLog{{Vertex: d, Data: []byte(log[:half])}, {Vertex: d, Data: []byte(log[half:])}}
	}
	return s
}
