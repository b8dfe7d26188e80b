package daemon

import (
	"fmt"
	"strings"
	"testing"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/progress/progressui"
	digest "github.com/opencontainers/go-digest"
)

// A vertex several sessions use is reported by each, its log included:
// its log is passed on from one session only, the first to send it, and
// from another once that one has ended. Vertex records pass from all.
func TestDisplayShowsASharedLogOnce(t *testing.T) {
	d := &display{owners: map[owned]int{}}
	col, other := newCollector(), newCollector()
	shared, own := digest.FromString("warm"), digest.FromString("verify")
	log := func(dg digest.Digest, text string) *client.SolveStatus {
		return &client.SolveStatus{
			Vertexes: []*client.Vertex{{Digest: dg}},
			Logs:     []*client.VertexLog{{Vertex: dg, Data: []byte(text)}},
			Warnings: []*client.VertexWarning{{Vertex: dg, Short: []byte(text)}},
		}
	}
	shown := func(s *client.SolveStatus) string {
		out := ""
		for _, l := range s.Logs {
			out += string(l.Data)
		}
		if len(s.Vertexes) != 1 || len(s.Warnings) != len(s.Logs) {
			t.Errorf("vertices %d, warnings %d, logs %d", len(s.Vertexes), len(s.Warnings), len(s.Logs))
		}
		return out
	}
	steps := []struct {
		session int
		s       *client.SolveStatus
		want    string
	}{
		{1, log(shared, "a"), "a"},
		{2, log(shared, "a"), ""},
		{2, log(own, "b"), "b"},
		{1, log(shared, "c"), "c"},
	}
	for i, st := range steps {
		if got := shown(d.own(col, st.session, st.s)); got != st.want {
			t.Errorf("step %d: shown %q, want %q", i, got, st.want)
		}
	}
	d.release(1)
	if got := shown(d.own(col, 2, log(shared, "d"))); got != "d" {
		t.Errorf("after the first session ended, the second's log of the shared vertex: %q", got)
	}
	// Another daemon's vertex of the same digest is its own.
	if got := shown(d.own(other, 3, log(shared, "e"))); got != "e" {
		t.Errorf("another daemon's log of a vertex of the same digest: %q", got)
	}
}

// The daemon's warnings are listed once each, one line each, after the
// display; rawjson and quiet list none.
func TestPrintWarnings(t *testing.T) {
	ws := []client.VertexWarning{
		{Short: []byte("InvalidBaseImagePlatform: image docker:19.03.12 is linux, not linux/amd64")},
		{Short: []byte("InvalidBaseImagePlatform: image docker:19.03.12 is linux, not linux/amd64")},
		{Short: []byte("a hostile\nllbgen: all 3 targets verified")},
	}
	var b strings.Builder
	printWarnings(&b, progressui.PlainMode, ws)
	want := "2 warnings from the daemon:\n - InvalidBaseImagePlatform: image docker:19.03.12 is linux, not linux/amd64\n - a hostile llbgen: all 3 targets verified\n"
	if got := b.String(); got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	for _, mode := range []progressui.DisplayMode{progressui.QuietMode, progressui.RawJSONMode} {
		b.Reset()
		if printWarnings(&b, mode, ws); b.Len() > 0 {
			t.Errorf("%s: %q", mode, b.String())
		}
	}
}

// A daemon that sends many warnings gets a bounded list.
func TestPrintWarningsIsBounded(t *testing.T) {
	var ws []client.VertexWarning
	for i := range 10000 {
		ws = append(ws, client.VertexWarning{Short: []byte(fmt.Sprintf("warning %d", i))})
	}
	var b strings.Builder
	printWarnings(&b, progressui.PlainMode, ws)
	if lines := strings.Count(b.String(), "\n"); lines != maxWarnings+2 || !strings.HasPrefix(b.String(), "10000 warnings from the daemon:\n") || !strings.HasSuffix(b.String(), fmt.Sprintf(" - and %d more\n", 10000-maxWarnings)) {
		t.Errorf("%d lines:\n%.300s", lines, b.String())
	}
}

// With several daemons, each daemon's vertices are shown as its own: the
// same step on two daemons gets two digests and names that say where.
func TestTaggedStatus(t *testing.T) {
	dg, in := digest.FromString("compile"), digest.FromString("download")
	s := &client.SolveStatus{
		Vertexes: []*client.Vertex{{Digest: dg, Name: "compile", Inputs: []digest.Digest{in}}},
		Statuses: []*client.VertexStatus{{Vertex: dg}},
		Logs:     []*client.VertexLog{{Vertex: dg}},
		Warnings: []*client.VertexWarning{{Vertex: dg}},
	}
	if tagged(s, "") != s {
		t.Error("a display of one daemon changed the status")
	}
	a, b := tagged(s, "tcp://a:1"), tagged(s, "tcp://b:1")
	if a.Vertexes[0].Digest == dg || a.Vertexes[0].Digest == b.Vertexes[0].Digest {
		t.Error("the vertex keeps its digest, or has one digest on two daemons")
	}
	if a.Vertexes[0].Name != "[tcp://a:1] compile" || a.Vertexes[0].Inputs[0] == in {
		t.Errorf("vertex shown as %+v", a.Vertexes[0])
	}
	for _, v := range []digest.Digest{a.Statuses[0].Vertex, a.Logs[0].Vertex, a.Warnings[0].Vertex} {
		if v != a.Vertexes[0].Digest {
			t.Errorf("a status, log or warning points at %s, not the vertex shown", v)
		}
	}
	if s.Vertexes[0].Digest != dg || s.Vertexes[0].Name != "compile" || s.Logs[0].Vertex != dg {
		t.Error("tagging changed the status the collector keeps")
	}
}
