package daemon

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/client"

	"github.com/llbgen/llbgen/pkg/graph"
)

// runAndExport builds, lands and exports the cache, as Run does: the
// export once the output directory was committed.
func (r *fakeRun) runAndExport(t *testing.T) *Outcome {
	t.Helper()
	ctx := context.Background()
	o, err := r.s.land(ctx, r.s.run(ctx, r.d, ""), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.s.exportCache(ctx, r.d, r.s.prepared); err != nil {
		o.CacheExport = err.Error()
	}
	return o
}

var registryCache = client.CacheOptionsEntry{Type: "registry", Attrs: map[string]string{"ref": "reg.example.com/ci/cache:llbgen", "mode": "max"}}

// The build cache is exported once, of every binary that was written,
// each part llbgen build solved (its finished files, its check's verdict)
// a ref of its own: one export per binary would replace the others'.
func TestCacheExportHoldsEveryWrittenBinary(t *testing.T) {
	d := &fakeDaemon{fail: []fakeFailure{{match: func(s graph.Stage) bool { return s.Kind == graph.KindVerify && slices.Contains(s.Binaries, "twin") }, vertexErr: "exit code: 1"}}}
	r := newFakeRun(t, d)
	r.s.opt.Cache = Cache{Exports: []client.CacheOptionsEntry{registryCache}}
	d.atCacheExport = func() {
		if !r.landed(t, "docker_19.03.12") {
			t.Error("the cache is exported before the output directory was committed")
		}
	}
	o := r.runAndExport(t)
	var want []string
	for _, n := range allBinaries {
		if n != "twin" {
			want = append(want, n+" files", n+" verdict")
		}
	}
	slices.Sort(want)
	if !slices.Equal(d.cached, want) {
		t.Errorf("cache export of %q, want %q (not twin, which failed)", d.cached, want)
	}
	if len(d.cacheExports) != 1 || d.cacheExports[0].Type != "registry" {
		t.Errorf("exported to %+v, want the registry", d.cacheExports)
	}
	if o.CacheExport != "" {
		t.Errorf("CacheExport %q", o.CacheExport)
	}
}

// A failed cache export keeps the binaries, and says why in one line.
func TestFailedCacheExportKeepsTheBinaries(t *testing.T) {
	d := &fakeDaemon{cacheFails: errors.New("failed to push reg.example.com/ci/cache:llbgen: unauthorized\nmore")}
	r := newFakeRun(t, d)
	r.s.opt.Cache = Cache{Exports: []client.CacheOptionsEntry{registryCache}}
	o := r.runAndExport(t)
	for _, name := range allBinaries {
		if !r.landed(t, name) {
			t.Errorf("%s did not land", name)
		}
	}
	if want := "exporting the build cache (registry ref=reg.example.com/ci/cache:llbgen): "; !strings.HasPrefix(o.CacheExport, want) || !strings.Contains(o.CacheExport, "unauthorized") || strings.Contains(o.CacheExport, "\n") {
		t.Errorf("CacheExport %q, want one line starting %q", o.CacheExport, want)
	}
}

// Without exports, no cache session is opened.
func TestNoCacheExportWithoutExports(t *testing.T) {
	d := &fakeDaemon{}
	r := newFakeRun(t, d)
	r.runAndExport(t)
	if d.cached != nil {
		t.Errorf("a cache export of %q", d.cached)
	}
}
