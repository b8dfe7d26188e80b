package daemon

import (
	"testing"

	"github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
)

// A vertex several sessions use is reported by each, its log included:
// its log is passed on from one session only, the first to send it, and
// from another once that one has ended. Vertex records pass from all.
func TestDisplayShowsASharedLogOnce(t *testing.T) {
	d := &display{owners: map[digest.Digest]int{}}
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
		if got := shown(d.own(st.session, st.s)); got != st.want {
			t.Errorf("step %d: shown %q, want %q", i, got, st.want)
		}
	}
	d.release(1)
	if got := shown(d.own(2, log(shared, "d"))); got != "d" {
		t.Errorf("after the first session ended, the second's log of the shared vertex: %q", got)
	}
}
