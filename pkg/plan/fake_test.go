package plan

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	fstypes "github.com/tonistiigi/fsutil/types"
	"google.golang.org/grpc/codes"

	"github.com/llbgen/llbgen/pkg/graph"
)

// fakeImage is an image as the fake daemon serves it on one platform.
type fakeImage struct {
	config string // image config JSON; "" for {"os":"linux","architecture":ARCH}
	goHead []byte // the start of /usr/local/go/bin/go; nil when there is none
	// goMode is bin/go's mode when it is not a regular file (a directory,
	// a symbolic link to goHead).
	goMode os.FileMode
	// What the daemon answers instead, when set: to the solve of the
	// image, to StatFile (of any path) and to ReadFile of bin/go.
	solveErr, statErr, readErr error
	// statErrs are StatFile's answers for some paths, before statErr.
	statErrs map[string]error
	// tree holds the modes of the directories above bin/go (goDirs) that
	// are not directories; the others are directories.
	tree map[string]os.FileMode
}

// fakeDaemon resolves the images it has and solves them, as a gateway
// client does, and keeps what it was asked.
type fakeDaemon struct {
	gateway.Client
	images map[graph.ImageKey]fakeImage

	// onSolve, when set, runs as each solve starts.
	onSolve func()

	mu       sync.Mutex
	resolved []graph.ImageKey
	solved   []string // source identifiers, with their platform
}

// goImage is a go image with a toolchain for platform.
func goImage(platform string) fakeImage {
	m := map[string]elfMachine{}
	for a, e := range goArchELF {
		m["linux/"+a] = e
	}
	e := m[platform]
	return fakeImage{goHead: elfHead(e.class, e.data, e.machine)}
}

// imageDigest is the digest the fake daemon gives k.
func imageDigest(k graph.ImageKey) digest.Digest {
	return digest.Digest(fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(k.String()))))
}

func (d *fakeDaemon) ResolveImageConfig(_ context.Context, ref string, opt sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	k := graph.ImageKey{Ref: ref, Platform: platforms.Format(*opt.ImageOpt.Platform)}
	d.mu.Lock()
	d.resolved = append(d.resolved, k)
	d.mu.Unlock()
	img, ok := d.images[k]
	if !ok {
		return "", "", nil, fmt.Errorf("%s: not found\nsecond line", ref)
	}
	cfg := img.config
	if cfg == "" {
		p, _ := platforms.Parse(k.Platform)
		cfg = fmt.Sprintf(`{"os":%q,"architecture":%q}`, p.OS, p.Architecture)
	}
	return ref, imageDigest(k), []byte(cfg), nil
}

func (d *fakeDaemon) Solve(ctx context.Context, req gateway.SolveRequest) (*gateway.Result, error) {
	if d.onSolve != nil {
		d.onSolve()
		if err := ctx.Err(); err != nil {
			return nil, fromDaemon(codes.Canceled, err.Error())
		}
	}
	var found *fakeImage
	for _, dt := range req.Definition.Def {
		var op pb.Op
		if err := op.UnmarshalVT(dt); err != nil {
			return nil, err
		}
		src := op.GetSource()
		if src == nil {
			continue
		}
		if op.Platform == nil {
			return nil, errors.New("an image solved without a platform")
		}
		d.mu.Lock()
		d.solved = append(d.solved, src.Identifier+" "+platforms.Format(ocispecs.Platform{OS: op.Platform.OS, Architecture: op.Platform.Architecture}))
		d.mu.Unlock()
		for k, img := range d.images {
			if strings.HasSuffix(src.Identifier, "@"+imageDigest(k).String()) {
				found = &img
			}
		}
	}
	if found == nil {
		return nil, errors.New("solved something the fake daemon does not have")
	}
	if found.solveErr != nil {
		return nil, found.solveErr
	}
	res := gateway.NewResult()
	res.SetRef(fakeRef{*found})
	return res, nil
}

type fakeRef struct{ img fakeImage }

func (r fakeRef) ReadFile(_ context.Context, req gateway.ReadRequest) ([]byte, error) {
	if r.img.readErr != nil {
		return nil, r.img.readErr
	}
	if req.Filename != goBinary || r.img.goHead == nil {
		return nil, fmt.Errorf("open %s: no such file or directory", req.Filename)
	}
	if req.Range == nil || req.Range.Length > elfHeadBytes {
		return nil, fmt.Errorf("read more than the header: %+v", req.Range)
	}
	return r.img.goHead[:min(len(r.img.goHead), req.Range.Length)], nil
}

func (fakeRef) ToState() (llb.State, error)    { panic("not used") }
func (fakeRef) Evaluate(context.Context) error { return nil }
func (r fakeRef) StatFile(_ context.Context, req gateway.StatRequest) (*fstypes.Stat, error) {
	if err, ok := r.img.statErrs[req.Path]; ok {
		return nil, err
	}
	if mode, ok := r.img.tree[req.Path]; ok && r.img.statErr == nil {
		return &fstypes.Stat{Path: path.Base(req.Path), Mode: uint32(mode | 0o755)}, nil
	}
	switch {
	case r.img.statErr != nil:
		return nil, r.img.statErr
	case slices.Contains(goDirs, req.Path):
		return &fstypes.Stat{Path: path.Base(req.Path), Mode: uint32(os.ModeDir | 0o755)}, nil
	case req.Path != goBinary || r.img.goHead == nil && r.img.goMode == 0:
		return nil, fmt.Errorf("lstat %s: no such file or directory", req.Path)
	case r.img.goMode != 0:
		return &fstypes.Stat{Path: "go", Mode: uint32(r.img.goMode | 0o777)}, nil
	}
	return &fstypes.Stat{Path: "go", Mode: 0o755, Size: int64(len(r.img.goHead))}, nil
}
func (fakeRef) ReadDir(context.Context, gateway.ReadDirRequest) ([]*fstypes.Stat, error) {
	panic("not used")
}
