package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/llbgen/llbgen/pkg/daemon"
	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/outdir"
	"github.com/llbgen/llbgen/pkg/targets"
)

// testdata is absolute: some tests change the working directory.
var testdata = func() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return filepath.Join(wd, "testdata")
}()

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(testdata, name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s changed; review and run go test ./cmd/llbgen -update\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

// stableVersion replaces the llbgen version line of JSON output (it
// names the Go toolchain) with VERSION.
func stableVersion(s string) string {
	return regexp.MustCompile(`"llbgen": "[^"]*"`).ReplaceAllString(s, `"llbgen": "VERSION"`)
}

func TestSummaryGolden(t *testing.T) {
	l, err := targets.Parse("targets.yaml", []byte(`helper: {version: v0.12.0}
targets:
  - image: docker:19.03.12
  - image: gitlab/gitlab-runner:v13.2.1
  - image: registry.example:5000/team/missing:1
  - image: alpine:3.12
    name: alpine
  - image: docker:19.03.12
    name: multi
    platforms: [linux/amd64, linux/arm64]
  - image: debian:12
    platforms: [linux/arm64]
  - image: ubuntu:24.04
    platforms: [linux/arm64]
`))
	if err != nil {
		t.Fatal(err)
	}
	out, err := outdir.Open("out")
	if err != nil {
		t.Fatal(err)
	}
	res := []daemon.Result{
		{Target: l.Targets[0], Binary: l.Targets[0].Binaries()[0], Platform: "linux/amd64", File: l.Targets[0].Binaries()[0].FileName(), Digest: "sha256:fa942ead9d5a0123456789abcdef0123456789abcdef0123456789abcdef01", Size: 9478270, SHA256: "3d41bfb9702f4e7788eaeea791761893d3003040950be49e6c42a7f45b776c52", Verified: true},
		{Target: l.Targets[1], Binary: l.Targets[1].Binaries()[0], Platform: "linux/amd64", File: l.Targets[1].Binaries()[0].FileName(), Digest: "sha256:6aebce2f9d950123456789abcdef0123456789abcdef0123456789abcdef01", Size: 9478270, SHA256: "3d41bfb9702f4e7788eaeea791761893d3003040950be49e6c42a7f45b776c52", Verified: true},
		{Target: l.Targets[2], Binary: l.Targets[2].Binaries()[0], Platform: "linux/amd64", File: l.Targets[2].Binaries()[0].FileName(), Cause: "image registry.example:5000/team/missing:1 not found or not authorised: registry.example:5000/team/missing:1: not found"},
		{Target: l.Targets[3], Binary: l.Targets[3].Binaries()[0], Platform: "linux/amd64", File: l.Targets[3].Binaries()[0].FileName(), Digest: "sha256:0123456789ab0123456789abcdef0123456789abcdef0123456789abcdef01", Cause: "verify failed: the binary does not run in its image: fork/exec /llbgen/in/docker-credential-ecr-login: no such file or directory"},
		{Target: l.Targets[4], Binary: l.Targets[4].Binaries()[0], Platform: "linux/amd64", File: l.Targets[4].Binaries()[0].FileName(), Digest: "sha256:fa942ead9d5a0123456789abcdef0123456789abcdef0123456789abcdef01", Size: 9478270, SHA256: "3d41bfb9702f4e7788eaeea791761893d3003040950be49e6c42a7f45b776c52", Verified: true},
		{Target: l.Targets[4], Binary: l.Targets[4].Binaries()[1], Platform: "linux/arm64", File: l.Targets[4].Binaries()[1].FileName(), Digest: "sha256:1b2c3d4e5f600123456789abcdef0123456789abcdef0123456789abcdef01", Size: 8912345, SHA256: "9a8b7c6d5e4f4e7788eaeea791761893d3003040950be49e6c42a7f45b776c52", Unverified: "not verified: no emulator for linux/arm64"},
	}
	// A shared stage that failed two binaries: one cause, given once.
	const warmVertex = "sha256:3e1d0000000000000000000000000000000000000000000000000000000000aa"
	warm := graph.Stage{Kind: graph.KindStatic, Platform: "linux/arm64", Binaries: []string{l.Targets[5].Binaries()[0].Name, l.Targets[6].Binaries()[0].Name}}
	for _, tg := range l.Targets[5:] {
		b := tg.Binaries()[0]
		res = append(res, daemon.Result{Target: tg, Binary: b, Platform: "linux/arm64", File: b.FileName(), Vertex: warmVertex, Stage: warm,
			Cause: "compiling the helper for linux/arm64 failed: /usr/local/go/src/net/http/server.go:4074:14: syntax error: unexpected {, expected name"})
	}
	var buf bytes.Buffer
	writeSummary(&buf, &daemon.Outcome{Out: out, Results: res})
	golden(t, "summary.golden", buf.String())
}

func TestPrintGolden(t *testing.T) {
	dir := dirWith(t, map[string]string{"targets.yaml": goodList})
	code, stdout, stderr := runCLI(t, dir, "build", "--print", "--out", "dist", "--addr", "unix:///nonexistent")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	golden(t, "print.golden", stableVersion(stdout))
}

// --print shows cgo, setup, platforms and a file per platform.
func TestPrintPlatformsGolden(t *testing.T) {
	data, err := os.ReadFile("../../hack/demo/compat.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := dirWith(t, map[string]string{"targets.yaml": string(data)})
	code, stdout, stderr := runCLI(t, dir, "build", "--print", "--out", "dist", "--addr", "unix:///nonexistent")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	golden(t, "print-platforms.golden", stableVersion(stdout))
}

// A failing vertex is one cause line naming every binary it failed,
// whatever its kind: the pull of an image two targets use (its stage names
// no binary, and is not a shared kind). Failures without a known vertex
// (the plan's refusals) are one line per cause.
func TestSummaryOneLinePerFailingVertex(t *testing.T) {
	l, err := targets.Parse("targets.yaml", []byte(`helper: {version: v0.12.0}
targets:
  - image: docker:19.03.12
  - image: docker:19.03.12
    name: twin
  - image: alpine:3.12
  - image: alpine:3.12
    name: alpine-too
  - image: debian:12
`))
	if err != nil {
		t.Fatal(err)
	}
	out, err := outdir.Open("out")
	if err != nil {
		t.Fatal(err)
	}
	const pull = "pulling the image docker:19.03.12 (linux/amd64) failed: not found"
	refused := func(image string) string { return "image " + image + " not found or not authorised" }
	var res []daemon.Result
	for i, tg := range l.Targets {
		b := tg.Binaries()[0]
		r := daemon.Result{Target: tg, Binary: b, Platform: "linux/amd64", File: b.FileName(), Cause: refused(tg.Image.Ref)}
		if i < 2 {
			r.Vertex, r.Stage, r.Cause = "sha256:0123", graph.Stage{Kind: graph.KindImage, Image: "docker:19.03.12"}, pull
		}
		res = append(res, r)
	}
	var buf bytes.Buffer
	writeSummary(&buf, &daemon.Outcome{Out: out, Results: res})
	_, got, _ := strings.Cut(buf.String(), "failed (their files, if any, were left as they were):\n")
	want := "  docker_19.03.12, twin: " + pull + "\n  alpine_3.12, alpine-too: " + refused("alpine:3.12") + "\n  debian_12: " + refused("debian:12") + "\n"
	if got != want {
		t.Errorf("causes:\n%s\nwant:\n%s", got, want)
	}
}

// A cause is the image's text (a setup step's last lines, a registry's
// error): it cannot redraw the table with escape sequences, and it is one
// bounded line.
func TestSummaryHostileCause(t *testing.T) {
	l, err := targets.Parse("targets.yaml", []byte("helper: {version: v0.12.0}\ntargets:\n  - image: alpine:3.12\n    name: cgo\n"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := outdir.Open("out")
	if err != nil {
		t.Fatal(err)
	}
	tg := l.Targets[0]
	cause := `setup command "./configure" failed: ` + "\x1b[3A\x1b[2Kdocker_19.03.12  linux/amd64  yes\r\n\x9b1A\x07" + strings.Repeat("x", 10000)
	var buf bytes.Buffer
	writeSummary(&buf, &daemon.Outcome{Out: out, Results: []daemon.Result{{Target: tg, Binary: tg.Binaries()[0], Platform: "linux/amd64", File: tg.Binaries()[0].FileName(), Cause: cause},
		{Target: tg, Binary: tg.Binaries()[0], Platform: "linux/arm64", File: "other", Size: 1, SHA256: "3d41bfb9702f4e7788eaeea791761893d3003040950be49e6c42a7f45b776c52", Unverified: "\x1b[2J"}}})
	got := buf.String()
	for _, r := range got {
		if r != '\n' && (r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f)) {
			t.Fatalf("summary keeps control character %U:\n%q", r, got)
		}
	}
	_, line, _ := strings.Cut(got, "failed (their files, if any, were left as they were):\n")
	line = strings.TrimSuffix(line, "\n")
	if strings.Contains(line, "\n") || len(line) > 350 || !strings.HasSuffix(line, "…") {
		t.Errorf("cause not one clipped line (%d bytes): %q", len(line), line)
	}
	if !strings.HasPrefix(line, `  cgo: setup command "./configure" failed: ?[3A?[2Kdocker_19.03.12 linux/amd64 yes ?1A?xxx`) {
		t.Errorf("cause line: %q", line)
	}
}

// A cause's line is bounded however many binaries it failed: "all N
// binaries" when it failed every one of the run, else the first maxNames
// names and how many more.
func TestSummaryCauseLinesAreBounded(t *testing.T) {
	out, err := outdir.Open("out")
	if err != nil {
		t.Fatal(err)
	}
	const cause = "downloading the helper module failed: no route to host"
	results := func(n, failed int) []daemon.Result {
		var res []daemon.Result
		for i := range n {
			tg := targets.Target{Name: fmt.Sprintf("t%03d", i), Image: targets.Image{Ref: "docker:19.03.12"}}
			b := targets.Binary{Name: tg.Name}
			r := daemon.Result{Target: tg, Binary: b, Platform: "linux/amd64", File: tg.Name, Vertex: "sha256:0123", Cause: cause}
			if i >= failed {
				r.Vertex, r.Cause, r.Verified, r.Size, r.SHA256 = "", "", true, 1, strings.Repeat("a", 64)
			}
			res = append(res, r)
		}
		return res
	}
	causes := func(res []daemon.Result) string {
		var buf bytes.Buffer
		writeSummary(&buf, &daemon.Outcome{Out: out, Results: res})
		_, got, _ := strings.Cut(buf.String(), "failed (their files, if any, were left as they were):\n")
		return got
	}
	if got, want := causes(results(300, 300)), "  all 300 binaries: "+cause+"\n"; got != want {
		t.Errorf("every binary failed by one cause:\n%s\nwant:\n%s", got, want)
	}
	if got, want := causes(results(31, 30)), "  t000, t001, t002, t003, t004, t005, t006, t007, t008, t009 and 20 more: "+cause+"\n"; got != want {
		t.Errorf("30 of 31 failed by one cause:\n%s\nwant:\n%s", got, want)
	}
	if got, want := causes(results(2, 1)), "  t000: "+cause+"\n"; got != want {
		t.Errorf("one of two failed:\n%s\nwant:\n%s", got, want)
	}
}
