package graph_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/buildkit/solver/pb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/lock"
	"github.com/llbgen/llbgen/pkg/targets"
)

var update = flag.Bool("update", false, "rewrite pkg/graph/testdata/*.golden")

var linuxAmd64 = ocispecs.Platform{OS: "linux", Architecture: "amd64"}

// TestGraphGolden renders the graphs of the repository's list and of the
// test lists as text and compares them with testdata/*.golden, so every
// change to a graph shows in review as a change to those files. Rewrite
// them with `go test ./pkg/graph -run TestGraphGolden -update`.
func TestGraphGolden(t *testing.T) {
	epoch := int64(1700000000)
	tests := []struct {
		name, list string
		locked     bool // with testdata/targets.yaml.lock and SOURCE_DATE_EPOCH
		canRun     func(ocispecs.Platform) bool
	}{
		{name: "targets", list: "../../targets.yaml"},
		{name: "targets-locked", list: "../../targets.yaml", locked: true},
		{name: "cgo", list: "testdata/cgo.yaml"},
		{name: "platforms", list: "testdata/platforms.yaml", canRun: func(p ocispecs.Platform) bool { return p.Architecture != "riscv64" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := os.ReadFile(tt.list)
			if err != nil {
				t.Fatal(err)
			}
			// Named as a user names it, so the dump does not depend on
			// where the test runs.
			list, err := targets.Parse(filepath.Base(tt.list), data)
			if err != nil {
				t.Fatal(err)
			}
			opt := graph.Options{Platform: linuxAmd64, CanRun: tt.canRun}
			if tt.locked {
				lk, err := lock.Read("testdata/targets.yaml.lock")
				if err != nil {
					t.Fatal(err)
				}
				if err := lk.Check("testdata/targets.yaml.lock", list); err != nil {
					t.Fatal(err)
				}
				lk.Apply(&opt)
				opt.SourceDateEpoch = &epoch
			}
			_, got := dumpOf(t, list, opt)
			golden := filepath.Join("testdata", tt.name+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v; write it with -update", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("the graph of %s differs from %s (-want +got):\n%s\nif the change is meant, rewrite it: go test ./pkg/graph -run TestGraphGolden -update",
					tt.list, golden, lineDiff(string(want), string(got)))
			}
		})
	}
}

// lineDiff lists the lines removed from want (-) and added in got (+),
// with their line numbers, by a longest common subsequence; the first 40.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	// lcs[i][j] is the longest common subsequence of w[i:] and g[j:].
	lcs := make([][]int, len(w)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(g)+1)
	}
	for i := len(w) - 1; i >= 0; i-- {
		for j := len(g) - 1; j >= 0; j-- {
			if w[i] == g[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for (i < len(w) || j < len(g)) && len(out) < 40 {
		switch {
		case i < len(w) && j < len(g) && w[i] == g[j]:
			i, j = i+1, j+1
		case i < len(w) && (j == len(g) || lcs[i+1][j] >= lcs[i][j+1]):
			out = append(out, "-"+strconv.Itoa(i+1)+": "+w[i])
			i++
		default:
			out = append(out, "+"+strconv.Itoa(j+1)+": "+g[j])
			j++
		}
	}
	return strings.Join(out, "\n")
}

// The dump depends on the graph alone: not on the order of the
// definition's ops, nor on their digests' order.
func TestDumpIgnoresOpOrder(t *testing.T) {
	data, err := os.ReadFile("testdata/cgo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	list, err := targets.Parse("cgo.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	def, want := dumpOf(t, list, graph.Options{Platform: linuxAmd64})
	ops := def.Def[:len(def.Def)-1]
	for i, j := 0, len(ops)-1; i < j; i, j = i+1, j-1 {
		ops[i], ops[j] = ops[j], ops[i]
	}
	got, err := graph.Dump(def)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the dump changed with the order of the ops:\n%s", lineDiff(string(want), string(got)))
	}
	// Every vertex is shown after the vertices it uses.
	shown := map[string]bool{}
	for _, line := range strings.Split(string(got), "\n") {
		if strings.HasPrefix(line, "[") {
			shown[strings.SplitN(line, "]", 2)[0]+"]"] = true
			continue
		}
		if _, ref, ok := strings.Cut(line, "<- ["); ok {
			if n := "[" + strings.SplitN(ref, "]", 2)[0] + "]"; !shown[n] {
				t.Errorf("%s used before it is shown: %s", n, line)
			}
		}
	}
	if strings.Contains(string(got), "stage: (none)") {
		t.Error("a vertex without a stage")
	}
}

// dumpOf defines list's graph, encodes it as the pipe does, decodes it as
// buildctl would, and dumps it.
func dumpOf(t *testing.T, list *targets.List, opt graph.Options) (*pb.Definition, []byte) {
	t.Helper()
	g, err := graph.Define(list, opt)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := graph.Definition(context.Background(), g.Output, linuxAmd64)
	if err != nil {
		t.Fatal(err)
	}
	def := &pb.Definition{}
	if err := def.UnmarshalVT(raw); err != nil {
		t.Fatal(err)
	}
	dump, err := graph.Dump(def)
	if err != nil {
		t.Fatal(err)
	}
	return def, dump
}
