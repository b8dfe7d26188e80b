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
	"github.com/llbgen/llbgen/pkg/targets"
)

// fromDaemon is an error as a gateway client gets it from BuildKit.
func fromDaemon(c codes.Code, msg string) error { return grpcerrors.FromGRPC(status.Error(c, msg)) }

// What BuildKit v0.34.2 answers (code Unknown: grpcerrors.ToGRPC of a
// path error) to StatFile and ReadFile of a path in an image it mounted.
const (
	// snapshot/localmounter_linux.go: os.MkdirTemp("", "buildkit-mount").
	mount = "/tmp/buildkit-mount2871433105"
	// cache/util/fsutil.go StatFile: fsutil.Stat's os.Lstat error, its
	// path put back to the requested one by replaceErrorPath. RootPath
	// follows links, so a link to nothing says the same.
	statMissing = "lstat /usr/local/go/bin/go: no such file or directory"
	// continuity v0.5.0 fs/path.go walkLink, on a component above the
	// last: `fi, err := os.Lstat(realPath)` with realPath :=
	// filepath.Join(root, path), returned as is unless os.IsNotExist;
	// StatFile does not put the requested path back into it.
	goIsAFile    = "lstat " + mount + "/usr/local/go/bin: not a directory"
	localIsAFile = "lstat " + mount + "/usr/local/go: not a directory"
	binIsAFile   = "lstat " + mount + "/usr/local/go/bin/go: not a directory"
	// bin/go -> /etc/passwd/go: RootPath follows it and walkLink meets
	// the file /etc/passwd.
	linkThroughAFile = "lstat " + mount + "/etc/passwd/go: not a directory"
	// continuity v0.5.0 fs/path.go: var errTooManyLinks =
	// errors.New("too many links"), after 255 links.
	linkLoop = "too many links"
	// cache/util/fsutil.go ReadFile: util/openfile checkRegular's
	// &os.PathError{Op: "open", Path: name, Err: ErrNotRegular}
	// (errors.New("not a regular file")), the path put back to the
	// requested one by ReadFile's deferred fix.
	readNotRegular = "open /usr/local/go/bin/go: not a regular file"
)

// Only an image without a regular bin/go has no toolchain (bad input, at
// the go: key); every other failure while checking is the daemon's (not
// bad input: the CLI exits 1), told in one line that names no path of
// the daemon's mount.
func TestToolchainCheckTellsDaemonFailures(t *testing.T) {
	good := goImage("linux/amd64")
	noFile := " has no Go toolchain at /usr/local/go (no regular file /usr/local/go/bin/go)"
	notELF := " has no Go toolchain at /usr/local/go (/usr/local/go/bin/go is not an ELF executable)"
	unknown := func(msg string) error { return fromDaemon(codes.Unknown, msg) }
	for _, c := range []struct {
		name string
		img  fakeImage
		// want is the refusal's problem for bad input; daemon, the start
		// of a daemon error's message; neither: the check passes.
		want, daemon string
		// code is the daemon error's gRPC code when it is not that of
		// solveErr, statErr and readErr; end, when set, how its message
		// ends.
		code codes.Code
		end  string
	}{
		{name: "a toolchain", img: good},
		{name: "bin/go stat as a link", img: fakeImage{goHead: good.goHead, goMode: os.ModeSymlink}},
		{name: "no bin/go", img: fakeImage{statErr: unknown(statMissing)}, want: noFile},
		{name: "bin/go a link to nothing", img: fakeImage{statErr: unknown(statMissing)}, want: noFile},
		{name: "/usr/local/go a file", img: fakeImage{statErrs: map[string]error{goBinary: unknown(goIsAFile)}, tree: map[string]os.FileMode{"/usr/local/go": 0}}, want: noFile},
		{name: "/usr/local/go a file, told in words not known", img: fakeImage{statErrs: map[string]error{goBinary: unknown("resolving " + mount + "/usr/local/go/bin/go: ENOTDIR")}, tree: map[string]os.FileMode{"/usr/local/go": 0}}, want: noFile},
		{name: "/usr/local a file", img: fakeImage{statErrs: map[string]error{goBinary: unknown(localIsAFile)}, tree: map[string]os.FileMode{"/usr/local": 0}}, want: noFile},
		{name: "/usr/local/go/bin a file", img: fakeImage{statErrs: map[string]error{goBinary: unknown(binIsAFile)}, tree: map[string]os.FileMode{"/usr/local/go/bin": 0}}, want: noFile},
		{name: "/usr/local/go missing", img: fakeImage{statErrs: map[string]error{goBinary: unknown(statMissing), "/usr/local/go": unknown("lstat /usr/local/go: no such file or directory")}}, want: noFile},
		{name: "/usr/local/go a link loop", img: fakeImage{statErrs: map[string]error{goBinary: unknown(linkLoop), "/usr/local/go": unknown(linkLoop)}}, want: noFile},
		{name: "bin/go a link loop", img: fakeImage{statErrs: map[string]error{goBinary: unknown(linkLoop)}}, want: noFile},
		{name: "bin/go a link through a file", img: fakeImage{statErrs: map[string]error{goBinary: unknown(linkThroughAFile)}}, want: noFile},
		{name: "bin/go a directory", img: fakeImage{goMode: os.ModeDir}, want: noFile},
		{name: "bin/go a FIFO", img: fakeImage{goMode: os.ModeNamedPipe}, want: noFile},
		{name: "bin/go not a regular file when read", img: fakeImage{goHead: good.goHead, readErr: unknown(readNotRegular)}, want: noFile},
		{name: "bin/go gone when read", img: fakeImage{goHead: good.goHead, readErr: unknown("open /usr/local/go/bin/go: no such file or directory")}, want: noFile},
		{name: "bin/go empty", img: fakeImage{goHead: []byte{}}, want: notELF},
		{name: "stat: internal", img: fakeImage{goHead: good.goHead, statErr: fromDaemon(codes.Internal, "failed to get mount: lstat /usr/local/go/bin/go: no such file or directory")},
			daemon: "reading /usr/local/go/bin/go of the go image docker.io/library/golang@sha256:"},
		{name: "stat: resource exhausted", img: fakeImage{goHead: good.goHead, statErr: fromDaemon(codes.ResourceExhausted, "too many open files")},
			daemon: "reading /usr/local/go/bin/go of the go image"},
		{name: "stat: deadline exceeded", img: fakeImage{goHead: good.goHead, statErr: fromDaemon(codes.DeadlineExceeded, "context deadline exceeded")},
			daemon: "reading /usr/local/go/bin/go of the go image"},
		{name: "stat: unavailable", img: fakeImage{goHead: good.goHead, statErr: fromDaemon(codes.Unavailable, "connection closed")},
			daemon: "reading /usr/local/go/bin/go of the go image"},
		{name: "stat: another path missing", img: fakeImage{goHead: good.goHead, statErr: unknown("mount /var/lib/buildkit/snapshots/7/fs: no such file or directory")},
			daemon: "reading /usr/local/go/bin/go of the go image"},
		{name: "stat: an I/O error in the mount", img: fakeImage{goHead: good.goHead, statErrs: map[string]error{
			goBinary:        unknown("lstat " + mount + "/usr/local/go: input/output error"),
			"/usr/local/go": unknown("lstat " + mount + "/usr/local/go: input/output error"),
		}}, daemon: "reading /usr/local/go/bin/go of the go image docker.io/library/golang@sha256:", code: codes.Unknown,
			end: ": lstat /usr/local/go: input/output error"},
		{name: "stat: the connection lost while looking above bin/go", img: fakeImage{goHead: good.goHead, statErrs: map[string]error{
			goBinary:     unknown(goIsAFile),
			"/usr/local": fromDaemon(codes.Unavailable, "error reading from server: EOF"),
		}}, daemon: "reading /usr/local/go/bin/go of the go image", code: codes.Unavailable},
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
			if !strings.HasSuffix(msg, c.end) {
				t.Errorf("got  %s\nwant …%s", msg, c.end)
			}
			if strings.Contains(msg, "buildkit-mount") {
				t.Errorf("the daemon's mount named: %s", msg)
			}
			// The daemon's code stays, for the caller to tell a lost
			// connection.
			want := c.code
			if want == codes.OK {
				want = grpcerrors.Code(errors.Join(c.img.solveErr, c.img.statErr, c.img.readErr))
			}
			if got := grpcerrors.Code(err); got != want {
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

// A path in the daemon's mount of the image is told as the image's path;
// other text stays.
func TestImagePaths(t *testing.T) {
	for in, want := range map[string]string{
		"lstat " + mount + "/usr/local/go/bin: input/output error":                        "lstat /usr/local/go/bin: input/output error",
		"lstat /var/lib/buildkit/runc-overlayfs/snapshots/snapshots/7/fs/usr/local/go: x": "lstat /usr/local/go: x",
		"open " + mount + "/usr/local/go/bin/go":                                          "open /usr/local/go/bin/go",
		"lstat /usr/local/go/bin/go: no such file or directory":                           "lstat /usr/local/go/bin/go: no such file or directory",
		"mount /var/lib/buildkit/snapshots/7/fs: no such file or directory":               "mount /var/lib/buildkit/snapshots/7/fs: no such file or directory",
		"pulling docker.io/library/usr:1":                                                 "pulling docker.io/library/usr:1",
		"too many links":                                                                  "too many links",
	} {
		if got := imagePaths(in); got != want {
			t.Errorf("imagePaths(%q) = %q, want %q", in, got, want)
		}
	}
}

// A list without a go: key whose default go image has no toolchain: the
// fix names the list's file when there is one, also with --image flags
// (`llbgen --image REF -f FILE`, whose list has no Source), and asks for
// one otherwise.
func TestToolchainRefusalWithoutGoKeyNamesTheFile(t *testing.T) {
	file := parse(t, "helper: {version: v0.12.0}\ntargets:\n  - image: docker:19.03.12\n")
	other := parse(t, "helper: {version: v0.12.0}\ntargets:\n  - image: alpine:3\n")
	withFile, err := targets.FromImages(other, []targets.ImageArg{{Image: "docker:19.03.12"}})
	if err != nil {
		t.Fatal(err)
	}
	flagsOnly, err := targets.FromImages(nil, []targets.ImageArg{{Image: "docker:19.03.12"}})
	if err != nil {
		t.Fatal(err)
	}
	const problem = "the list names no go image, and the default golang:1.26 has no Go toolchain at /usr/local/go (no regular file /usr/local/go/bin/go); "
	const what = ", naming an image with a Go toolchain for linux/amd64 at /usr/local/go"
	for _, c := range []struct {
		name string
		list *targets.List
		fix  string
	}{
		{"the file", file, "add `go: IMAGE` to targets.yaml"},
		{"--image with -f FILE", withFile, "add `go: IMAGE` to targets.yaml"},
		{"--image alone", flagsOnly, "name one with `go: IMAGE` in a target list (-f FILE)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := &fakeDaemon{images: map[graph.ImageKey]fakeImage{key(goFull, "linux/amd64"): {}, key(muslFull, "linux/amd64"): {}}}
			_, err := Make(context.Background(), Input{List: c.list}, daemonFacts(d, amd64))
			var e *Error
			if !errors.As(err, &e) || !e.BadInput {
				t.Fatalf("got %#v, want bad input", err)
			}
			if want := problem + c.fix + what; err.Error() != want {
				t.Errorf("got  %s\nwant %s", err, want)
			}
		})
	}
}
