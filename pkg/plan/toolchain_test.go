package plan

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/moby/buildkit/util/grpcerrors"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/llbgen/llbgen/pkg/graph"
)

// fromDaemon is an error as a gateway client gets it from BuildKit.
func fromDaemon(c codes.Code, msg string) error { return grpcerrors.FromGRPC(status.Error(c, msg)) }

// Only an image without a regular bin/go has no toolchain (bad input, at
// the go: key); every other failure while checking is the daemon's (not
// bad input: the CLI exits 1), told in one line.
func TestToolchainCheckTellsDaemonFailures(t *testing.T) {
	good := goImage("linux/amd64")
	noFile := " has no Go toolchain at /usr/local/go (no regular file /usr/local/go/bin/go)"
	notELF := " has no Go toolchain at /usr/local/go (/usr/local/go/bin/go is not an ELF executable)"
	for _, c := range []struct {
		name string
		img  fakeImage
		// want is the refusal's problem for bad input; daemon, the start
		// of a daemon error's message; neither: the check passes.
		want, daemon string
	}{
		{name: "a toolchain", img: good},
		{name: "bin/go a link to the toolchain", img: fakeImage{goHead: good.goHead, goMode: os.ModeSymlink}},
		{name: "no bin/go", img: fakeImage{statErr: fromDaemon(codes.Unknown, "lstat /usr/local/go/bin/go: no such file or directory")}, want: noFile},
		{name: "/usr/local/go a file", img: fakeImage{statErr: fromDaemon(codes.Unknown, "lstat /usr/local/go/bin/go: not a directory")}, want: noFile},
		{name: "bin/go a directory", img: fakeImage{goMode: os.ModeDir}, want: noFile},
		{name: "bin/go a FIFO", img: fakeImage{goMode: os.ModeNamedPipe}, want: noFile},
		{name: "bin/go a link to a directory", img: fakeImage{goMode: os.ModeSymlink, readErr: fromDaemon(codes.Unknown, "open /usr/local/go/bin/go: not a regular file")}, want: noFile},
		{name: "bin/go a link to nothing", img: fakeImage{goMode: os.ModeSymlink}, want: noFile},
		{name: "bin/go empty", img: fakeImage{goHead: []byte{}}, want: notELF},
		{name: "stat: internal", img: fakeImage{goHead: good.goHead, statErr: fromDaemon(codes.Internal, "failed to get mount: lstat /usr/local/go/bin/go: no such file or directory")},
			daemon: "reading /usr/local/go/bin/go of the go image docker.io/library/golang@sha256:"},
		{name: "stat: resource exhausted", img: fakeImage{goHead: good.goHead, statErr: fromDaemon(codes.ResourceExhausted, "too many open files")},
			daemon: "reading /usr/local/go/bin/go of the go image"},
		{name: "stat: deadline exceeded", img: fakeImage{goHead: good.goHead, statErr: fromDaemon(codes.DeadlineExceeded, "context deadline exceeded")},
			daemon: "reading /usr/local/go/bin/go of the go image"},
		{name: "stat: unavailable", img: fakeImage{goHead: good.goHead, statErr: fromDaemon(codes.Unavailable, "connection closed")},
			daemon: "reading /usr/local/go/bin/go of the go image"},
		{name: "stat: another path missing", img: fakeImage{goHead: good.goHead, statErr: fromDaemon(codes.Unknown, "mount /var/lib/buildkit/snapshots/7/fs: no such file or directory")},
			daemon: "reading /usr/local/go/bin/go of the go image"},
		{name: "read: internal", img: fakeImage{goHead: good.goHead, readErr: fromDaemon(codes.Internal, "read: input/output error")},
			daemon: "reading /usr/local/go/bin/go of the go image"},
		{name: "pull fails", img: fakeImage{goHead: good.goHead, solveErr: fromDaemon(codes.Unknown, "failed to resolve source metadata\n  for golang: 500 Internal Server Error\x1b[2J\n\nretry later")},
			daemon: "pulling the go image docker.io/library/golang@sha256:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := &fakeDaemon{images: map[graph.ImageKey]fakeImage{key(goFull, "linux/amd64"): c.img, key(muslFull, "linux/amd64"): {}}}
			list := parse(t, "helper: {version: v0.12.0}\ngo: golang:1.26\ntargets:\n  - image: docker:19.03.12\n")
			_, err := Make(context.Background(), Input{List: list}, daemonFacts(d, amd64))
			if c.want == "" && c.daemon == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %#v, want a *plan.Error", err)
			}
			msg := err.Error()
			assertSafeLine(t, msg, MaxError)
			if c.want != "" {
				if want := "targets.yaml:2:1: go image golang:1.26" + c.want; !e.BadInput || !strings.HasPrefix(msg, want) {
					t.Errorf("got  %s (bad input: %v)\nwant %s… (bad input)", msg, e.BadInput, want)
				}
				return
			}
			if e.BadInput || !strings.HasPrefix(msg, c.daemon) {
				t.Errorf("got  %s (bad input: %v)\nwant %s… (the daemon's failure)", msg, e.BadInput, c.daemon)
			}
			if strings.Contains(msg, "no Go toolchain") {
				t.Errorf("a daemon failure told as the image's: %s", msg)
			}
			// The daemon's code stays, for the caller to tell a lost
			// connection.
			injected := errors.Join(c.img.solveErr, c.img.statErr, c.img.readErr)
			if got, want := grpcerrors.Code(err), grpcerrors.Code(injected); got != want {
				t.Errorf("code %v, want the daemon's %v", got, want)
			}
		})
	}
}

// A check canceled while the go image is pulled is the context's error,
// not the image's nor the daemon's.
func TestToolchainCheckCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := &fakeDaemon{images: map[graph.ImageKey]fakeImage{key(goFull, "linux/amd64"): goImage("linux/amd64"), key(muslFull, "linux/amd64"): {}}, onSolve: cancel}
	list := parse(t, "helper: {version: v0.12.0}\ngo: golang:1.26\ntargets:\n  - image: docker:19.03.12\n")
	if _, err := Make(ctx, Input{List: list}, daemonFacts(d, amd64)); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}
