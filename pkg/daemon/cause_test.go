package daemon

import (
	"github.com/llbgen/llbgen/pkg/targets"

	"bytes"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/connhelper"
	"github.com/moby/buildkit/solver/errdefs"

	"github.com/llbgen/llbgen/pkg/graph"
)

// causeCase is one stage failing for one binary: the vertex's error and
// log as the progress gives them, and the cause wanted.
type causeCase struct {
	name      string
	binary    string
	kind      graph.Kind
	match     func(graph.Stage) bool
	vertexErr string
	log       string
	want      string
	// pulled: the cause is the pull of this image, the failing stage's
	// (a layer the registry lost): its stage and vertex are the pull's.
	pulled string
}

var causeCases = []causeCase{
	{
		name: "a layer the registry lost is the image's pull", binary: "docker_19.03.12", kind: graph.KindVerify,
		vertexErr: "failed to copy: httpReadSeeker: failed open: could not fetch content descriptor sha256:" + strings.Repeat("ab", 32) + " (application/vnd.oci.image.layer.v1.tar+gzip) from remote: not found",
		want:      "pulling the image docker:19.03.12 (linux/amd64) failed: its layer sha256:" + strings.Repeat("ab", 32) + " could not be fetched from the registry: not found",
		pulled:    "docker:19.03.12",
	},
	{
		name: "verify", binary: "docker_19.03.12", kind: graph.KindVerify,
		vertexErr: `process "/llbgen/stagetool/stagetool check -target docker_19.03.12" did not complete successfully: exit code: 1`,
		log:       "llbgen: target docker_19.03.12: the binary does not run in its image: fork/exec x: no such file or directory\n",
		want:      "verify failed: the binary does not run in its image: fork/exec x: no such file or directory",
	},
	{
		name: "verify that printed nothing", binary: "twin", kind: graph.KindVerify,
		vertexErr: `process "/llbgen/stagetool/stagetool check -target twin -want 0.12.0" did not complete successfully: exit code: 137`,
		want:      "verify failed: exit code: 137",
	},
	{
		name: "compile: the compiler's first errors", binary: "runner-cgo", kind: graph.KindCompile,
		vertexErr: "exit code: 1",
		log:       "# github.com/x/y\n./main.go:3:1: syntax error\n./main.go:4:1: undefined: z\n./main.go:5:1: third\n./main.go:6:1: fourth\nllbgen: go build: exit status 1\n",
		want:      "compile failed: ./main.go:3:1: syntax error; ./main.go:4:1: undefined: z; ./main.go:5:1: third",
	},
	{
		name: "compile: the first errors of a long log", binary: "multi-linux-arm64", kind: graph.KindStatic,
		vertexErr: "exit code: 1",
		log:       "# github.com/x/y\n./a.go:1:1: first\n" + strings.Repeat("# github.com/x/z\n./b.go:2:2: later\n", 100),
		want:      "compiling the helper for linux/arm64 failed: ./a.go:1:1: first; ./b.go:2:2: later; ./b.go:2:2: later",
	},
	{
		name: "cgo compile without a position", binary: "runner-cgo", kind: graph.KindCompile,
		vertexErr: "exit code: 1",
		log:       "# runtime/cgo\ncgo: C compiler \"gcc\" not found: exec: \"gcc\": executable file not found in $PATH\nllbgen: /usr/local/go/bin/go -C /llbgen/gomod/x build -o /llbgen/bin/y ./cli/y: exit status 1\n",
		want:      `compile failed: # runtime/cgo; cgo: C compiler "gcc" not found: exec: "gcc": executable file not found in $PATH`,
	},
	{
		name: "static compile, shared", binary: "docker_19.03.12", kind: graph.KindStatic,
		vertexErr: "exit code: 1",
		log:       "# net/http\n/usr/local/go/src/net/http/server.go:4074:14: syntax error: unexpected {, expected name\nllbgen: go build: exit status 1\n",
		want:      "compiling the helper for linux/amd64 failed: /usr/local/go/src/net/http/server.go:4074:14: syntax error: unexpected {, expected name",
	},
	{
		name: "static compile, with the go version the module wants", binary: "multi-linux-arm64", kind: graph.KindStatic,
		vertexErr: "exit code: 1",
		log:       "# github.com/x/y\nx.go:1:2: undefined: slices.Concat\nnote: module requires Go 1.24.0\n",
		want:      "compiling the helper for linux/arm64 failed: x.go:1:2: undefined: slices.Concat; note: module requires Go 1.24.0",
	},
	{
		name: "unknown module version", binary: "docker_19.03.12", kind: graph.KindDownload,
		vertexErr: "exit code: 1",
		log:       "# get https://proxy.golang.org/...\ngo: github.com/awslabs/amazon-ecr-credential-helper/ecr-login@v0.12.0: reading https://proxy.golang.org/.../@v/v0.12.0.info: 404 Not Found\n",
		want:      "module version unknown (is github.com/awslabs/amazon-ecr-credential-helper/ecr-login@v0.12.0 published?): github.com/awslabs/amazon-ecr-credential-helper/ecr-login@v0.12.0: reading https://proxy.golang.org/.../@v/v0.12.0.info: 404 Not Found",
	},
	{
		name: "download", binary: "twin", kind: graph.KindDownload,
		vertexErr: "exit code: 1",
		log:       "go: github.com/x/y@v1.0.0: dial tcp: lookup proxy.golang.org: no such host\n# get https://proxy.golang.org/x\n",
		want:      "downloading the helper module failed: github.com/x/y@v1.0.0: dial tcp: lookup proxy.golang.org: no such host",
	},
	{
		name: "setup: the command and its last lines", binary: "runner-cgo", kind: graph.KindSetup, match: step(2),
		vertexErr: `process "/bin/sh -c apt-get install -y gcc libc6-dev" did not complete successfully: exit code: 100`,
		log:       "Reading package lists...\nBuilding dependency tree...\nE: Unable to locate package gcc\nE: Unable to locate package libc6-dev\n",
		want:      `setup command "apt-get install -y gcc libc6-dev" failed: Building dependency tree...; E: Unable to locate package gcc; E: Unable to locate package libc6-dev`,
	},
	{
		name: "stage tool", binary: "docker_19.03.12", kind: graph.KindStageTool,
		vertexErr: "exit code: 1",
		log:       "# llbgen.invalid/stagetool\n./main.go:10:2: undefined: slices.Sorted\n",
		want:      "compiling llbgen's stage tool failed: ./main.go:10:2: undefined: slices.Sorted",
	},
	{
		name: "module check", binary: "docker_19.03.12", kind: graph.KindModuleCheck,
		vertexErr: "exit code: 1",
		log:       "llbgen: the helper module's hash is h1:B=, the lock has h1:A=\n",
		want:      "checking the helper module against the lock failed: the helper module's hash is h1:B=, the lock has h1:A=",
	},
	{
		// a delivery is a file op: it fails only when an input is missing
		name: "deliver without a verdict", binary: "docker_19.03.12", kind: graph.KindDeliver,
		vertexErr: `failed to calculate checksum of ref zxney6b4ltlr0cwa5zsf0ueip::z8huku3gcqr1l4m3o0h1ooxjf: "/verdict": not found`,
		want:      "delivering the binary failed: its check left no verdict",
	},
	{
		name: "finish", binary: "runner-cgo", kind: graph.KindFinish,
		vertexErr: "exit code: 1",
		log:       "llbgen: /llbgen/in/docker-credential-ecr-login is not a regular file\n",
		want:      "writing the binary's build information failed: /llbgen/in/docker-credential-ecr-login is not a regular file",
	},
	{
		name: "a go image without a toolchain", binary: "docker_19.03.12", kind: graph.KindStageTool,
		vertexErr: `failed to calculate checksum of ref zxney6b4ltlr0cwa5zsf0ueip::z8huku3gcqr1l4m3o0h1ooxjf: "/usr/local/go": not found`,
		want:      "the go image golang:1.26 has no Go toolchain at /usr/local/go",
	},
	{
		name: "a go image without a go command", binary: "docker_19.03.12", kind: graph.KindDownload,
		vertexErr: `process "/usr/local/go/bin/go mod download -x" did not complete successfully: runc run failed: exec: "/usr/local/go/bin/go": stat /usr/local/go/bin/go: no such file or directory`,
		want:      "the go image golang:1.26 has no Go toolchain at /usr/local/go",
	},
	{
		name: "a go image of another platform", binary: "docker_19.03.12", kind: graph.KindStatic,
		vertexErr: "exec /llbgen/stagetool/stagetool: exec format error",
		want:      "the Go toolchain of the go image golang:1.26 does not run on linux/amd64 (exec format error)",
	},
	{
		name: "a go image whose /usr/local/go is not a directory", binary: "docker_19.03.12", kind: graph.KindToolchain,
		vertexErr: `failed to compute cache key: failed to calculate checksum of ref zxney6b4ltlr0cwa5zsf0ueip::z8huku3gcqr1l4m3o0h1ooxjf: "/usr/local/go/.llbgen": not a directory`,
		want:      `the go image golang:1.26 has no Go toolchain at /usr/local/go: failed to compute cache key: "/usr/local/go/.llbgen": not a directory`,
	},
	{
		name: "an image whose pull names a reference", binary: "runner-cgo", kind: graph.KindImage,
		match:     func(s graph.Stage) bool { return s.Image == "gitlab/gitlab-runner:v13.2.1" },
		vertexErr: "failed to get state for index 0 on ref zxney6b4ltlr0cwa5zsf0ueip::z8huku3gcqr1l4m3o0h1ooxjf: not found",
		want:      "pulling the image gitlab/gitlab-runner:v13.2.1 (linux/amd64) failed: failed to get state for index 0 on ref: not found",
	},
	{
		name: "an image that does not pull", binary: "runner-cgo", kind: graph.KindImage,
		match:     func(s graph.Stage) bool { return s.Image == "gitlab/gitlab-runner:v13.2.1" },
		vertexErr: "docker.io/gitlab/gitlab-runner:v13.2.1: not found",
		want:      "pulling the image gitlab/gitlab-runner:v13.2.1 (linux/amd64) failed: docker.io/gitlab/gitlab-runner:v13.2.1: not found",
	},
}

// internal is BuildKit's text that no cause shows: its reference ids,
// "checksum of ref", the double release of a reference.
var internal = regexp.MustCompile(`[a-z0-9]{25}::[a-z0-9]{25}|checksum of ref|already released`)

// Each stage's failure gets its cause, found by the failing vertex's
// digest in real graphs: from the solve error's VertexError, and from the
// progress stream when the solve lost its vertex (BuildKit's gateway
// answered "releasing already released reference" for some).
func TestCause(t *testing.T) {
	list := parseList(t, testYAML)
	b := buildGraph(t, list, graph.Options{Locked: map[string]graph.LockedModule{targets.HelperModule + "@" + list.Helpers[0].Version: {Sum: "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", Time: "2025-01-01T00:00:00Z"}}})
	for _, tc := range causeCases {
		for _, lost := range []bool{false, true} {
			name := tc.name
			if lost {
				name += ", vertex lost"
			}
			t.Run(name, func(t *testing.T) {
				var match []func(graph.Stage) bool
				if tc.match != nil {
					match = append(match, tc.match)
				}
				d := b.vertexOf(t, tc.binary, tc.kind, match...)
				c := newCollector()
				c.learn(b.defs[tc.binary])
				c.add(failedStatus(d, tc.vertexErr, tc.log))
				err := errdefs.WrapVertex(errors.New(tc.vertexErr), d)
				if lost {
					err = errors.New("releasing already released reference zxney6b4ltlr0cwa5zsf0ueip::z8huku3gcqr1l4m3o0h1ooxjf")
				}
				solveErr := fmt.Errorf("solving %s: %w", tc.binary, &solveError{err: err, vertices: vertices(b.defs[tc.binary])})
				e := c.explain(list, solveErr)
				if e.cause != tc.want {
					t.Errorf("cause:\n got %q\nwant %q", e.cause, tc.want)
				}
				if internal.MatchString(e.cause) {
					t.Errorf("BuildKit's internal words reach the cause: %q", e.cause)
				}
				kind := tc.kind
				if tc.pulled != "" {
					kind = graph.KindImage
					d = b.vertexOf(t, tc.binary, kind, func(s graph.Stage) bool { return s.Image == tc.pulled })
				}
				if e.stage.Kind != kind || e.vertex != d {
					t.Errorf("stage %q at %s, want %q at %s", e.stage.Kind, e.vertex, kind, d)
				}
			})
		}
	}
}

// Every kind of stage has a way to be told, under its title.
func TestEveryKindIsTold(t *testing.T) {
	for _, c := range causes {
		if c.kind.Title() == "" {
			t.Errorf("kind %q has no title in the graph's table", c.kind)
		}
	}
	list := parseList(t, testYAML)
	b := buildGraph(t, list, graph.Options{Locked: map[string]graph.LockedModule{targets.HelperModule + "@" + list.Helpers[0].Version: {Sum: "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", Time: "2025-01-01T00:00:00Z"}}})
	for name, def := range b.defs {
		for _, s := range graph.Stages(def) {
			if rank(s.Kind) == len(causes) {
				t.Errorf("%s: stage kind %q has no cause", name, s.Kind)
			}
		}
	}
}

// A solve that lost its vertex is not explained by another binary's
// failure, nor by a stage its own failure canceled; with no stage of its
// own known to have failed, its cause says the daemon lost the step's
// error, not BuildKit's words for it.
func TestCauseIsTheSolvesOwn(t *testing.T) {
	list := parseList(t, testYAML)
	b := buildGraph(t, list, graph.Options{})
	lost := errors.New("releasing already released reference zxney6b4ltlr0cwa5zsf0ueip::z8huku3gcqr1l4m3o0h1ooxjf")

	c := newCollector()
	for _, def := range b.defs {
		c.learn(def)
	}
	c.add(failedStatus(b.vertexOf(t, "twin", graph.KindVerify), "exit code: 1", "llbgen: target twin: boom\n"))
	e := c.explain(list, &solveError{err: lost, vertices: vertices(b.defs["docker_19.03.12"])})
	stage, got := e.stage, e.cause
	if e.vertex != "" || stage.Kind != "" || got != lostStep {
		t.Errorf("another binary's failure explains this one, or BuildKit's words reach the cause: %q %q", stage.Kind, got)
	}

	c.add(failedStatus(b.vertexOf(t, "docker_19.03.12", graph.KindStageTool), "context canceled", ""))
	c.add(failedStatus(b.vertexOf(t, "docker_19.03.12", graph.KindDownload), "exit code: 1", "go: no route\n"))
	if got := c.explain(list, &solveError{err: lost, vertices: vertices(b.defs["docker_19.03.12"])}).cause; got != "downloading the helper module failed: no route" {
		t.Errorf("cause %q, want the download's, not the canceled stage tool's", got)
	}
}

// Every address form buildctl accepts is known to the client.
func TestConnectionHelpersRegistered(t *testing.T) {
	for _, addr := range []string{"docker-container://buildkitd", "kube-pod://buildkitd-0", "podman-container://buildkitd", "nerdctl-container://buildkitd", "ssh://user@host"} {
		h, err := connhelper.GetConnectionHelper(addr)
		if err != nil || h == nil {
			t.Errorf("%s: no connection helper (%v)", addr, err)
		}
	}
	if h, _ := connhelper.GetConnectionHelper("unix:///run/buildkit/buildkitd.sock"); h != nil {
		t.Error("unix:// must be dialled directly")
	}
	if !strings.Contains(HowToGetADaemon, "make buildkitd") {
		t.Error("the unreachable message must say how to get a daemon")
	}
}

// A setup step's output is the image's: escape sequences that would
// redraw the summary's table are not passed on, and the cause is one
// bounded line.
func TestCauseHostileOutput(t *testing.T) {
	list := parseList(t, testYAML)
	b := buildGraph(t, list, graph.Options{})
	d := b.vertexOf(t, "runner-cgo", graph.KindSetup, step(1))
	c := newCollector()
	c.learn(b.defs["runner-cgo"])
	c.add(failedStatus(d, "exit code: 1",
		"checking for cc... \x1b[3A\x1b[2K\x1b]0;title\x07docker_19.03.12 linux/amd64 yes\x9b2J\x7f\xff\n"+
			strings.Repeat("\x1b[1mlong ", 200)+"\n"))
	got := c.explain(list, errdefs.WrapVertex(errors.New("solve failed"), d)).cause
	for _, r := range got {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == '\uFFFD' {
			t.Fatalf("cause keeps control character %U: %q", r, got)
		}
	}
	if len(got) > MaxCause || !strings.HasSuffix(got, "…") {
		t.Errorf("cause not clipped to %d bytes with …: %d bytes: %q", MaxCause, len(got), got)
	}
	if !strings.HasPrefix(got, `setup command "apt-get update" failed: checking for cc... ?[3A?[2K?]0;title?docker_19.03.12 linux/amd64 yes?2J??; ?[1mlong`) {
		t.Errorf("cause: %q", got)
	}
}

// A step that prints one endless line without a newline costs llbgen
// bounded memory and time: the unfinished line is not copied again for
// every chunk, and not kept past maxLine.
func TestEndlessLineIsBounded(t *testing.T) {
	const total, chunk = 10 << 20, 32 << 10
	list := parseList(t, testYAML)
	b := buildGraph(t, list, graph.Options{})
	d := b.vertexOf(t, "runner-cgo", graph.KindSetup, step(1))
	name := "any name"
	c := newCollector()
	c.learn(b.defs["runner-cgo"])
	c.add(&client.SolveStatus{Vertexes: []*client.Vertex{{Digest: d, Name: name}}})
	data := bytes.Repeat([]byte("y"), chunk)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	for range total / chunk {
		c.add(&client.SolveStatus{Logs: []*client.VertexLog{{Vertex: d, Data: data}}})
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	if n := len(c.vertices[d].partial); n > maxLine {
		t.Errorf("unfinished line keeps %d bytes, more than %d", n, maxLine)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Errorf("10 MiB without a newline allocated %d bytes", alloc)
	}
	if elapsed > 2*time.Second {
		t.Errorf("10 MiB without a newline took %v", elapsed)
	}
	c.add(&client.SolveStatus{Logs: []*client.VertexLog{{Vertex: d, Data: []byte("yy\nlast\n")}}})
	c.add(&client.SolveStatus{Vertexes: []*client.Vertex{{Digest: d, Name: name, Error: strings.Repeat("e", total)}}})
	v := c.vertices[d]
	if len(v.head) != 2 || len(v.head[0]) > maxLine+len("…") || !strings.HasSuffix(v.head[0], "…") || v.head[1] != "last" {
		t.Errorf("lines: %d, first %d bytes", len(v.head), len(v.head[0]))
	}
	if len(v.err) > maxLine+len("…") {
		t.Errorf("vertex error keeps %d bytes", len(v.err))
	}
	if got := c.explain(list, errdefs.WrapVertex(errors.New("solve failed"), d)).cause; len(got) > MaxCause {
		t.Errorf("cause is %d bytes", len(got))
	}
}
