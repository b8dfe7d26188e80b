package daemon

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/connhelper"
	digest "github.com/opencontainers/go-digest"

	"github.com/llbgen/llbgen/pkg/targets"
)

// status makes a progress update: one vertex, its error, its log.
func status(name, vertexErr, log string) *client.SolveStatus {
	d := digest.FromString(name)
	s := &client.SolveStatus{Vertexes: []*client.Vertex{{Digest: d, Name: name, Error: vertexErr}}}
	// Split the log in two messages mid-line, as the daemon may.
	if log != "" {
		half := len(log) / 2
		s.Logs = []*client.VertexLog{{Vertex: d, Data: []byte(log[:half])}, {Vertex: d, Data: []byte(log[half:])}}
	}
	return s
}

func TestCause(t *testing.T) {
	tg := targets.Target{Name: "docker_19.03.12"}
	tests := []struct {
		name    string
		updates []*client.SolveStatus
		want    string
	}{
		{
			name: "verify",
			updates: []*client.SolveStatus{
				status("compile docker_19.03.12 in docker:19.03.12", "", ""),
				status("verify docker_19.03.12 in docker:19.03.12", "exit code: 1",
					"llbgen: target docker_19.03.12: the binary does not run in its image: fork/exec x: no such file or directory\n"),
			},
			want: "verify failed: the binary does not run in its image: fork/exec x: no such file or directory",
		},
		{
			name: "compile",
			updates: []*client.SolveStatus{
				status("compile docker_19.03.12 in docker:19.03.12", "exit code: 1",
					"# github.com/x/y\n./main.go:3:1: syntax error\n./main.go:4:1: undefined: z\n"),
			},
			want: "compile error: # github.com/x/y; ./main.go:3:1: syntax error; ./main.go:4:1: undefined: z",
		},
		{
			name: "unknown module version",
			updates: []*client.SolveStatus{
				status("download github.com/awslabs/amazon-ecr-credential-helper/ecr-login@v0.99.0", "exit code: 1",
					"# get https://proxy.golang.org/...\ngo: github.com/awslabs/amazon-ecr-credential-helper/ecr-login@v0.99.0: reading https://proxy.golang.org/.../@v/v0.99.0.info: 404 Not Found\n"),
			},
			want: "module version unknown (is github.com/awslabs/amazon-ecr-credential-helper/ecr-login@v0.99.0 published?): github.com/awslabs/amazon-ecr-credential-helper/ecr-login@v0.99.0: reading https://proxy.golang.org/.../@v/v0.99.0.info: 404 Not Found",
		},
		{
			name: "other target's failure is not ours",
			updates: []*client.SolveStatus{
				status("verify docker_19.03.1 in docker:19.03.1", "exit code: 1", "llbgen: target docker_19.03.1: boom\n"),
			},
			want: "solve failed",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCollector()
			for _, u := range tc.updates {
				c.add(u)
			}
			if got := c.cause(tg.Name, errors.New("solve failed\nmore")); got != tc.want {
				t.Errorf("cause:\n got %q\nwant %q", got, tc.want)
			}
		})
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
	c := newCollector()
	c.add(status("setup cgo_1 in img:1 (1/1): ./configure", "exit code: 1",
		"checking for cc... \x1b[3A\x1b[2K\x1b]0;title\x07docker_19.03.12 linux/amd64 yes\x9b2J\x7f\xff\n"+
			strings.Repeat("\x1b[1mlong ", 200)+"\n"))
	got := c.cause("cgo_1", errors.New("solve failed"))
	for _, r := range got {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == '\uFFFD' {
			t.Fatalf("cause keeps control character %U: %q", r, got)
		}
	}
	if len(got) > MaxCause || !strings.HasSuffix(got, "…") {
		t.Errorf("cause not clipped to %d bytes with …: %d bytes: %q", MaxCause, len(got), got)
	}
	if !strings.HasPrefix(got, `setup command "./configure" failed: checking for cc... ?[3A?[2K?]0;title?docker_19.03.12 linux/amd64 yes?2J??; ?[1mlong`) {
		t.Errorf("cause: %q", got)
	}
}

func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"":                           "",
		"  a\t b\r\n\nc  ":           "a b c",
		"a\x1b[2Kb\x00c\x7fd\u0085e": "a?[2Kb?c?d?e",
		"ok: ünïcode ✓":              "ok: ünïcode ✓",
		"bad \xc3 utf8":              "bad ? utf8",
		"bidi \u202e gnp.exe":        "bidi ? gnp.exe",
	} {
		if got := OneLine(in); got != want {
			t.Errorf("OneLine(%q) = %q, want %q", in, got, want)
		}
	}
	long := strings.Repeat("é", 1000)
	got := OneLine(long)
	if len(got) > MaxCause || !strings.HasSuffix(got, "…") || !utf8.ValidString(got) || len(got) < MaxCause-5 {
		t.Errorf("OneLine(long) = %d bytes %q", len(got), got)
	}
	if s := strings.Repeat("x", MaxCause); OneLine(s) != s {
		t.Error("a cause of exactly MaxCause bytes is clipped")
	}
}

// A step that prints one endless line without a newline costs llbgen
// bounded memory and time: the unfinished line is not copied again for
// every chunk, and not kept past maxLine.
func TestEndlessLineIsBounded(t *testing.T) {
	const total, chunk = 10 << 20, 32 << 10
	name := "setup cgo_1 in img:1 (1/1): yes"
	d := digest.FromString(name)
	c := newCollector()
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
	if len(v.lines) != 2 || len(v.lines[0]) > maxLine+len("…") || !strings.HasSuffix(v.lines[0], "…") || v.lines[1] != "last" {
		t.Errorf("lines: %d, first %d bytes", len(v.lines), len(v.lines[0]))
	}
	if len(v.err) > maxLine+len("…") {
		t.Errorf("vertex error keeps %d bytes", len(v.err))
	}
	if got := c.cause("cgo_1", errors.New("solve failed")); len(got) > MaxCause {
		t.Errorf("cause is %d bytes", len(got))
	}
}
