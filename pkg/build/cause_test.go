package build

import (
	"errors"
	"strings"
	"testing"

	"github.com/llbgen/llbgen/pkg/targets"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/connhelper"
	digest "github.com/opencontainers/go-digest"
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
