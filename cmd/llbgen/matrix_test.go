package main

import (
	"bytes"
	"strings"
	"testing"

	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/pkg/daemon"
	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/targets"
)

// A shared stage that failed several rows of the matrix is one cause,
// printed once with every binary it failed; a failure of one binary's own
// stage keeps a line of its own, and cells still explain themselves.
func TestMatrixGivesASharedCauseOnce(t *testing.T) {
	amd64 := ocispecs.Platform{OS: "linux", Architecture: "amd64"}
	bin := func(name string) targets.Binary { return targets.Binary{Name: name} }
	warm := graph.Stage{Kind: graph.KindStatic, Platform: "linux/amd64", Binaries: []string{"a", "b"}}
	const warmCause = "compiling the helper for linux/amd64 failed: server.go:4074:14: syntax error: unexpected {"
	m := &daemon.Matrix{
		Columns: []graph.Column{{Image: targets.Image{Ref: "docker:19.03.12"}, Platform: amd64}},
		Rows: []daemon.MatrixRow{
			{Binary: bin("a"), Platform: "linux/amd64", Vertex: "sha256:0123", Stage: warm, Cause: warmCause},
			{Binary: bin("b"), Platform: "linux/amd64", Vertex: "sha256:0123", Stage: warm, Cause: warmCause},
			{Binary: bin("c"), Platform: "linux/amd64", Stage: graph.Stage{Kind: graph.KindSetup, Binaries: []string{"c"}}, Cause: `setup command "apk add gcc" failed: no network`},
			{Binary: bin("d"), Platform: "linux/amd64", Cells: []daemon.Cell{{Cause: "exec /x: no such file or directory"}}},
		},
	}
	var out bytes.Buffer
	writeMatrix(&out, m)
	got := out.String()
	if n := strings.Count(got, warmCause); n != 1 {
		t.Errorf("the static compile's cause is printed %d times, want once:\n%s", n, got)
	}
	for _, want := range []string{
		"a, b: not built: " + warmCause,
		`c: not built: setup command "apk add gcc" failed`,
		"✗ d in docker:19.03.12: exec /x: no such file or directory",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}

// A column whose image could not be run gives one line for its cells,
// naming their binaries, not one per row; other columns' cells keep
// theirs.
func TestMatrixGroupsAColumnNotRun(t *testing.T) {
	amd64 := ocispecs.Platform{OS: "linux", Architecture: "amd64"}
	const lost = "could not run it in registry.example/gone:1 (linux/amd64): pulling the image registry.example/gone:1 (linux/amd64) failed: not found"
	m := &daemon.Matrix{Columns: []graph.Column{
		{Image: targets.Image{Ref: "registry.example/gone:1"}, Platform: amd64},
		{Image: targets.Image{Ref: "docker:19.03.12"}, Platform: amd64},
	}}
	for _, name := range []string{"a", "b", "c"} {
		m.Rows = append(m.Rows, daemon.MatrixRow{Binary: targets.Binary{Name: name}, Platform: "linux/amd64",
			Cells: []daemon.Cell{{NotRun: true, Cause: lost}, {OK: true}}})
	}
	m.Rows = append(m.Rows, daemon.MatrixRow{Binary: targets.Binary{Name: "d"}, Platform: "linux/amd64",
		Cells: []daemon.Cell{{OK: true}, {NotRun: true, Cause: "could not run it in docker:19.03.12 (linux/amd64): no emulator"}}})
	var out bytes.Buffer
	writeMatrix(&out, m)
	got := out.String()
	for _, want := range []string{
		"? a, b, c in registry.example/gone:1: " + lost + "\n",
		"? d in docker:19.03.12: could not run it in docker:19.03.12 (linux/amd64): no emulator\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if n := strings.Count("\n"+got, "\n? "); n != 2 {
		t.Errorf("%d lines of cells not run, want 2:\n%s", n, got)
	}
}
