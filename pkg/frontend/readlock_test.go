package frontend

import (
	"context"
	"encoding/json"
	"path"
	"strings"
	"testing"

	"github.com/moby/buildkit/client/llb"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/solver/pb"
	fstypes "github.com/tonistiigi/fsutil/types"

	"github.com/llbgen/llbgen/pkg/lock"
)

// fakeLockClient serves the Dockerfile input as files, matching ReadDir's
// IncludePattern literally (pkg/lock's TestIncludePattern holds the escaped
// pattern to BuildKit's own matching), and keeps what readLock asked.
type fakeLockClient struct {
	gateway.Client
	files    map[string]string
	patterns []string
	follow   []string // llb.FollowPaths of the solved source
	reads    []gateway.ReadRequest
}

func (c *fakeLockClient) BuildOpts() gateway.BuildOpts { return gateway.BuildOpts{SessionID: "s"} }

func (c *fakeLockClient) Solve(_ context.Context, req gateway.SolveRequest) (*gateway.Result, error) {
	for _, dt := range req.Definition.Def {
		var op pb.Op
		if err := op.Unmarshal(dt); err != nil {
			return nil, err
		}
		if src := op.GetSource(); src != nil && src.Attrs[pb.AttrFollowPaths] != "" {
			if err := json.Unmarshal([]byte(src.Attrs[pb.AttrFollowPaths]), &c.follow); err != nil {
				return nil, err
			}
		}
	}
	res := gateway.NewResult()
	res.SetRef(fakeLockRef{c})
	return res, nil
}

type fakeLockRef struct{ c *fakeLockClient }

func (r fakeLockRef) ReadDir(_ context.Context, req gateway.ReadDirRequest) ([]*fstypes.Stat, error) {
	r.c.patterns = append(r.c.patterns, req.IncludePattern)
	var out []*fstypes.Stat
	for name := range r.c.files {
		if path.Join("/", path.Dir(name)) == path.Join("/", req.Path) && lock.IncludePattern(path.Base(name)) == req.IncludePattern {
			out = append(out, &fstypes.Stat{Path: path.Base(name)})
		}
	}
	return out, nil
}

func (r fakeLockRef) ReadFile(_ context.Context, req gateway.ReadRequest) ([]byte, error) {
	r.c.reads = append(r.c.reads, req)
	data := r.c.files[req.Filename]
	if req.Range != nil && len(data) > req.Range.Length {
		data = data[:req.Range.Length]
	}
	return []byte(data), nil
}

func (fakeLockRef) StatFile(context.Context, gateway.StatRequest) (*fstypes.Stat, error) {
	panic("not used")
}

func (fakeLockRef) ToState() (llb.State, error) { panic("not used") }

func (fakeLockRef) Evaluate(context.Context) error { return nil }

// readLock finds the lock of a list whose name has glob characters, and
// reads it through a range one byte past lock.MaxBytes, so a huge file is
// refused by lock.Parse without the daemon sending it whole.
func TestReadLockNameAndRange(t *testing.T) {
	const good = "helper: {module: github.com/awslabs/amazon-ecr-credential-helper/ecr-login, version: v0.12.0, sum: 'h1:JFWXO6QPihCknDdnL6VaQE57km4ZKheHIGd9YiOGcTo='}\nplatform: linux/amd64\nimages:\n  docker.io/library/golang:1.26: sha256:2222222222222222222222222222222222222222222222222222222222222222\n  docker.io/library/docker:19.03.12: sha256:1111111111111111111111111111111111111111111111111111111111111111\n"
	c := &fakeLockClient{files: map[string]string{"ci/targets[1].yaml.lock": good}}
	lk, err := readLock(context.Background(), c, "ci/targets[1].yaml")
	if err != nil || lk == nil {
		t.Fatalf("the lock of ci/targets[1].yaml: %v, %v", lk, err)
	}
	if len(c.follow) != 1 || c.follow[0] != `ci/targets\[1\].yaml.lock` {
		t.Errorf("FollowPaths %q", c.follow)
	}
	if len(c.patterns) != 1 || c.patterns[0] != `targets\[1\].yaml.lock` {
		t.Errorf("ReadDir patterns %q", c.patterns)
	}
	if len(c.reads) != 1 || c.reads[0].Range == nil || c.reads[0].Range.Length != lock.MaxBytes+1 {
		t.Errorf("ReadFile requests %+v, want a range of %d bytes", c.reads, lock.MaxBytes+1)
	}
	// No lock: unpinned, no error.
	if lk, err := readLock(context.Background(), &fakeLockClient{files: map[string]string{"ci/targets1.yaml.lock": good}}, "ci/targets[1].yaml"); lk != nil || err != nil {
		t.Errorf("no lock: %v, %v", lk, err)
	}
	c = &fakeLockClient{files: map[string]string{"targets.yaml.lock": strings.Repeat("#", lock.MaxBytes+100)}}
	if _, err := readLock(context.Background(), c, "targets.yaml"); err == nil || !strings.Contains(err.Error(), "the lock is more than 4194304 bytes") {
		t.Errorf("a huge lock: %v", err)
	}
}
