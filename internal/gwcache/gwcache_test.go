package gwcache

import (
	"context"
	"reflect"
	"testing"

	gateway "github.com/moby/buildkit/frontend/gateway/client"
)

type fakeClient struct {
	gateway.Client
	opts map[string]string
	got  []gateway.SolveRequest
}

func (f *fakeClient) BuildOpts() gateway.BuildOpts { return gateway.BuildOpts{Opts: f.opts} }

func (f *fakeClient) Solve(_ context.Context, req gateway.SolveRequest) (*gateway.Result, error) {
	f.got = append(f.got, req)
	return gateway.NewResult(), nil
}

// A solve imports the build's cache, as BuildKit's client encodes it in
// cache-imports, unless it names imports of its own.
func TestEverySolveImportsTheBuildsCache(t *testing.T) {
	f := &fakeClient{opts: map[string]string{optKey: `[{"Type":"registry","Attrs":{"ref":"reg.example.com/ci/cache"}}]`}}
	c, err := Client(f)
	if err != nil {
		t.Fatal(err)
	}
	own := []gateway.CacheOptionsEntry{{Type: "local", Attrs: map[string]string{"src": "x"}}}
	c.Solve(context.Background(), gateway.SolveRequest{})
	c.Solve(context.Background(), gateway.SolveRequest{CacheImports: own})
	want := []gateway.CacheOptionsEntry{{Type: "registry", Attrs: map[string]string{"ref": "reg.example.com/ci/cache"}}}
	if !reflect.DeepEqual(f.got[0].CacheImports, want) {
		t.Errorf("imports %+v, want %+v", f.got[0].CacheImports, want)
	}
	if !reflect.DeepEqual(f.got[1].CacheImports, own) {
		t.Errorf("a request's own imports were replaced: %+v", f.got[1].CacheImports)
	}
}

func TestNoImports(t *testing.T) {
	f := &fakeClient{}
	if c, err := Client(f); err != nil || c != gateway.Client(f) {
		t.Errorf("without cache-imports: %v, %v", c, err)
	}
	f.opts = map[string]string{optKey: "{not a list"}
	if _, err := Client(f); err == nil {
		t.Error("a cache-imports that is no JSON list was taken")
	}
}
