package frontend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/solver/errdefs"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	fstypes "github.com/tonistiigi/fsutil/types"

	"github.com/llbgen/llbgen/pkg/plan"
)

// fakeBuilder is a worker for this machine's platform, as the frontend
// sees it through the gateway: it serves the build context (the lock), and
// resolves and solves images; the go image's bin/go starts with goHead
// (nil: there is none).
type fakeBuilder struct {
	*fakeLockClient
	goHead  []byte
	missing map[string]bool // references that do not resolve
}

func (b *fakeBuilder) ResolveImageConfig(_ context.Context, ref string, opt sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	if b.missing[ref] {
		return "", "", nil, fmt.Errorf("%s: not found", ref)
	}
	p := *opt.ImageOpt.Platform
	return ref, digest.FromString(ref + " " + platforms.Format(p)), []byte(fmt.Sprintf(`{"os":%q,"architecture":%q}`, p.OS, p.Architecture)), nil
}

func (b *fakeBuilder) Solve(ctx context.Context, req gateway.SolveRequest) (*gateway.Result, error) {
	for _, dt := range req.Definition.Def {
		var op pb.Op
		if err := op.UnmarshalVT(dt); err != nil {
			return nil, err
		}
		if src := op.GetSource(); src != nil && strings.HasPrefix(src.Identifier, "docker-image://") {
			res := gateway.NewResult()
			res.SetRef(fakeImageRef{fakeLockRef{b.fakeLockClient}, b.goHead})
			return res, nil
		}
	}
	return b.fakeLockClient.Solve(ctx, req)
}

type fakeImageRef struct {
	fakeLockRef
	goHead []byte
}

func (r fakeImageRef) ReadFile(_ context.Context, req gateway.ReadRequest) ([]byte, error) {
	if req.Filename != "/usr/local/go/bin/go" || r.goHead == nil {
		return nil, fmt.Errorf("open %s: no such file or directory", req.Filename)
	}
	return r.goHead[:min(len(r.goHead), req.Range.Length)], nil
}

func (r fakeImageRef) StatFile(_ context.Context, req gateway.StatRequest) (*fstypes.Stat, error) {
	if req.Path != "/usr/local/go/bin/go" || r.goHead == nil {
		return nil, fmt.Errorf("lstat %s: no such file or directory", req.Path)
	}
	return &fstypes.Stat{Path: "go", Mode: 0o755, Size: int64(len(r.goHead))}, nil
}

// here is this machine's platform: the fake worker's.
var here = ocispecs.Platform{OS: "linux", Architecture: runtime.GOARCH}

// thisBinaryHead is the start of this test's own binary: a Go toolchain's
// go command for here, as far as the check can tell.
func thisBinaryHead(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	return data[:64]
}

const goodList = "helper:\n  version: v0.12.0\ngo: golang:1.26\ntargets:\n  - image: docker:19.03.12\n  - image: gitlab/gitlab-runner:v13.2.1\n"

// sourcesOf is what buildctl and buildx print under err: each of its
// sources, printed.
func sourcesOf(t *testing.T, err error) []string {
	t.Helper()
	var out []string
	for _, s := range errdefs.Sources(err) {
		var b bytes.Buffer
		if err := s.Print(&b); err != nil {
			t.Fatal(err)
		}
		out = append(out, b.String())
	}
	return out
}

// The frontend plans as every way does: the worker's platform, images
// pinned as resolved, the go image's toolchain checked.
func TestMakePlan(t *testing.T) {
	b := &fakeBuilder{fakeLockClient: &fakeLockClient{}, goHead: thisBinaryHead(t)}
	p, err := makePlan(context.Background(), b, request{file: "targets.yaml", data: []byte(goodList), platform: here})
	if err != nil {
		t.Fatal(err)
	}
	if platforms.Format(p.Graph.Platform) != platforms.Format(here) || len(p.Graph.Images) != 3 || !p.Graph.ProxySecret || p.Graph.CanRun != nil {
		t.Errorf("plan %+v", p.Graph)
	}
}

// Refusals of the list, its lock and its go: image fail the build with
// the list's lines: buildctl and buildx print them under the error.
func TestRefusalsShowTheListsLines(t *testing.T) {
	lockFor := func(list string) map[string]string {
		// a lock of another list: the list's second target is not pinned
		return map[string]string{"targets.yaml.lock": "helper: {module: github.com/awslabs/amazon-ecr-credential-helper/ecr-login, version: v0.12.0, sum: 'h1:JFWXO6QPihCknDdnL6VaQE57km4ZKheHIGd9YiOGcTo='}\nplatform: " + platforms.Format(here) + "\nimages:\n  docker.io/library/golang:1.26: sha256:2222222222222222222222222222222222222222222222222222222222222222\n  docker.io/library/docker:19.03.12: sha256:1111111111111111111111111111111111111111111111111111111111111111\n"}
	}
	for _, c := range []struct {
		name    string
		list    string
		args    map[string]string
		files   map[string]string
		goHead  bool
		missing string
		err     string // the error starts with it
		marked  []int  // the lines printed with >>>, in order
	}{
		{name: "no toolchain", list: goodList,
			err: "targets.yaml:3:1: go image golang:1.26 has no Go toolchain at /usr/local/go", marked: []int{3}},
		{name: "a list refusal", list: "helper:\n  version: v0.12.0\ntargets:\n  - image: docker:19.03.12\n    platfrom: linux/amd64\n", goHead: true,
			err: "targets.yaml:5:5: ", marked: []int{5}},
		{name: "an unknown TARGETS name", list: goodList, args: map[string]string{"TARGETS": "nope"}, goHead: true,
			err: `build-arg:TARGETS names "nope"`, marked: []int{5, 6}},
		{name: "a lock that does not cover the list", list: goodList, files: lockFor(goodList), goHead: true,
			err: "targets.yaml.lock does not match the target list: images: docker.io/gitlab/gitlab-runner:v13.2.1 is not locked", marked: []int{6}},
		{name: "an image that does not resolve", list: goodList, goHead: true, missing: "docker.io/gitlab/gitlab-runner:v13.2.1",
			err: "target gitlab-runner_v13.2.1 (" + platforms.Format(here) + "): image docker.io/gitlab/gitlab-runner:v13.2.1 not found", marked: []int{6}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := &fakeBuilder{fakeLockClient: &fakeLockClient{files: c.files}, missing: map[string]bool{c.missing: true}}
			if c.goHead {
				b.goHead = thisBinaryHead(t)
			}
			_, err := makePlan(context.Background(), b, request{file: "targets.yaml", data: []byte(c.list), args: c.args, platform: here})
			if err == nil {
				t.Fatal("accepted")
			}
			err = withSource(err, "targets.yaml", []byte(c.list))
			if !strings.HasPrefix(err.Error(), c.err) {
				t.Errorf("error %q\nwant it to start %q", err, c.err)
			}
			var marked []int
			for _, s := range sourcesOf(t, err) {
				if !strings.HasPrefix(s, "targets.yaml:") {
					t.Errorf("a source that is not the list's:\n%s", s)
				}
				for _, line := range strings.Split(s, "\n") {
					var n int
					if _, err := fmt.Sscanf(line, " %d | >>>", &n); err == nil && strings.Contains(line, ">>>") {
						marked = append(marked, n)
					}
				}
			}
			if fmt.Sprint(marked) != fmt.Sprint(c.marked) {
				t.Errorf("lines marked %v, want %v:\n%s", marked, c.marked, strings.Join(sourcesOf(t, err), "\n"))
			}
			var pe *plan.Error
			if errors.As(err, &pe) && !pe.BadInput && c.missing == "" {
				t.Errorf("not bad input: %v", err)
			}
		})
	}
}
