package graph

import (
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// With OwnTool, nothing compiles the stage tool: every stage that runs it
// mounts the one local source the client sends, marked as llbgen's own
// executable, and the rest of the graph is the same.
func TestOwnTool(t *testing.T) {
	l := stageList(t)
	opt := stageOptions()
	opt.OwnTool = digest.FromString("llbgen")
	g := mustBuild(t, l, opt)
	m := marshalAll(t, g.Output)
	stages := Stages(m.def)
	var local digest.Digest
	for d, op := range m.ops {
		src := op.GetSource()
		if src == nil || !strings.HasPrefix(src.Identifier, "local://") {
			continue
		}
		if local != "" {
			t.Fatalf("two local sources: %s and %s", local, d)
		}
		local = d
		// named by its digest: its vertex and the daemon's copy are those
		// of these bytes, in every session and run
		if src.Identifier != "local://"+OwnToolLocal || src.Attrs["local.includepattern"] != `["stagetool"]` ||
			src.Attrs["local.unique"] != opt.OwnTool.String() || src.Attrs["local.sharedkeyhint"] != OwnToolLocal+"@"+opt.OwnTool.String() {
			t.Errorf("the own tool's source is %s %v", src.Identifier, src.Attrs)
		}
		if s := stages[d]; s.Kind != KindOwnTool || s.Platform != "linux/amd64" {
			t.Errorf("the own tool is marked %+v", s)
		}
	}
	if local == "" {
		t.Fatal("no local source for the own tool")
	}
	runs := 0
	for d, op := range m.ops {
		if k := stages[d].Kind; k == KindStageTool || k == KindToolSource {
			t.Errorf("a %s vertex in a graph with its own tool", k)
		}
		ex := op.GetExec()
		if ex == nil {
			continue
		}
		if tool := mountInput(op, toolDir); tool != "" {
			runs++
			if tool != local {
				t.Errorf("%s mounts %s as the stage tool, not the own tool", ex.Meta.Args, tool)
			}
		}
	}
	if runs == 0 {
		t.Fatal("no stage runs the stage tool")
	}
	// The same graph otherwise: as many vertices of every other kind.
	compiled := marshalAll(t, mustBuild(t, l, stageOptions()).Output)
	count := func(m *marshalled) map[Kind]int {
		n := map[Kind]int{}
		for _, s := range Stages(m.def) {
			n[s.Kind]++
		}
		return n
	}
	own, base := count(m), count(compiled)
	for k, n := range base {
		if k != KindStageTool && k != KindToolSource && own[k] != n {
			t.Errorf("%d %s vertices with the own tool, %d without", own[k], k, n)
		}
	}
}
