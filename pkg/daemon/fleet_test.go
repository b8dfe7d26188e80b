package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/platforms"
	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/outdir"

	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/pkg/targets"
)

// Each binary goes to the daemon its platform is routed to, else to the
// default daemon, as do targets that name no platform; a daemon given
// nothing has no leg, and two routes to one daemon are one leg.
func TestLegs(t *testing.T) {
	p := func(arch, variant string) targets.Platform {
		return targets.Platform{Platform: ocispecs.Platform{OS: "linux", Architecture: arch, Variant: variant}}
	}
	list := &targets.List{Targets: []targets.Target{
		{Name: "plain"},
		{Name: "multi", Platforms: []targets.Platform{p("amd64", ""), p("arm64", ""), p("arm", "v7")}},
		{Name: "arm", Platforms: []targets.Platform{p("arm64", "")}},
	}}
	route := func(addr string, ps ...targets.Platform) Route {
		r := Route{Addr: addr}
		for _, p := range ps {
			r.Platforms = append(r.Platforms, p.Platform)
		}
		return r
	}
	files := func(l leg) []string {
		var out []string
		for _, b := range l.list.Binaries() {
			out = append(out, b.FileName())
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		routes []Route
		want   map[string][]string
	}{
		{"none", nil, map[string][]string{"tcp://default:1": {"plain", "multi-linux-amd64", "multi-linux-arm64", "multi-linux-arm-v7", "arm"}}},
		{"arm64 elsewhere", []Route{route("tcp://arm:1", p("arm64", "v8"))}, map[string][]string{
			"tcp://default:1": {"plain", "multi-linux-amd64", "multi-linux-arm-v7"},
			"tcp://arm:1":     {"multi-linux-arm64", "arm"},
		}},
		{"one daemon for two routes", []Route{route("tcp://arm:1", p("arm64", "")), route("tcp://arm:1", p("arm", "v7"))}, map[string][]string{
			"tcp://default:1": {"plain", "multi-linux-amd64"},
			"tcp://arm:1":     {"multi-linux-arm64", "multi-linux-arm-v7", "arm"},
		}},
		{"every binary routed", []Route{route("tcp://arm:1", p("arm64", ""))}, nil},
		{"a route to the default", []Route{route("tcp://default:1", p("arm64", ""))}, map[string][]string{"tcp://default:1": {"plain", "multi-linux-amd64", "multi-linux-arm64", "multi-linux-arm-v7", "arm"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := list
			if tc.want == nil { // only arm64 binaries: the default daemon has no leg
				l = list.Only(func(b targets.Binary) bool { return b.Platform != nil && b.Platform.Architecture == "arm64" })
				tc.want = map[string][]string{"tcp://arm:1": {"multi-linux-arm64", "arm"}}
			}
			legs := Options{Addr: "tcp://default:1", Routes: tc.routes}.legs(l)
			if len(legs) != len(tc.want) {
				t.Fatalf("%d legs, want %d", len(legs), len(tc.want))
			}
			for i, lg := range legs {
				var want []string
				for _, n := range tc.want[lg.opt.Addr] {
					want = append(want, targets.BinaryPrefix+n)
				}
				if got := files(lg); !slices.Equal(got, want) {
					t.Errorf("leg %d on %s: %q, want %q", i, lg.opt.Addr, got, want)
				}
				if lg.opt.Addr != "tcp://default:1" && len(lg.opt.Routes) != 0 {
					t.Errorf("leg on %s routes again", lg.opt.Addr)
				}
			}
			if legs[0].opt.Addr != "tcp://default:1" && len(tc.routes) > 0 && tc.name != "every binary routed" {
				t.Errorf("the default daemon's leg is not first: %s", legs[0].opt.Addr)
			}
		})
	}
}

// A daemon lost in the middle of its part costs that part whole: what it
// built before is dropped, not landed, and its binaries fail in one line
// naming it and keep their old files; the other daemon's part lands.
func TestLostLegDropsWhatItStaged(t *testing.T) {
	list := parseList(t, "helper: {version: v0.12.0}\ngo: golang:1.26\ntargets:\n"+
		"  - {image: docker:19.03.12, name: plain}\n"+
		"  - {image: docker:19.03.12, name: arm1, platforms: [linux/arm64]}\n"+
		"  - {image: docker:19.03.12, name: arm2, platforms: [linux/arm64]}\n")
	dir := t.TempDir()
	for _, b := range list.Binaries() {
		if err := os.WriteFile(filepath.Join(dir, b.FileName()), []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := outdir.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	arm64 := platforms.MustParse("linux/arm64")
	legs := Options{Addr: "unix:///a.sock", Routes: []Route{{Platforms: []ocispecs.Platform{arm64}, Addr: "unix:///b.sock"}}}.legs(list)
	if len(legs) != 2 {
		t.Fatalf("%d legs", len(legs))
	}
	w := worker{platform: amd64, platforms: []ocispecs.Platform{amd64, arm64}}
	a := &fakeDaemon{col: newCollector()}
	b := &fakeDaemon{col: newCollector(), lost: kind(graph.KindVerify, "arm2")}
	sa, sb := newSolve(legs[0].list, out, legs[0].opt, w, a.col), newSolve(legs[1].list, out, legs[1].opt, w, b.col)
	sb.parallel = 1 // arm1 lands in staging first, then arm2 loses the connection
	ctx := context.Background()
	runs := []legRun{{addr: "unix:///a.sock", s: sa}, {addr: "unix:///b.sock", s: sb}}
	runs[0].err = sa.runLeg(ctx, a)
	if err := sb.runLeg(ctx, b); err != nil {
		runs[1].err = runError(ctx, "unix:///b.sock", err)
	}
	var lost *LostError
	if !errors.As(runs[1].err, &lost) {
		t.Fatalf("the second leg: %v, want a lost connection", runs[1].err)
	}
	if !slices.ContainsFunc(sb.results, func(r Result) bool { return r.Binary.Name == "arm1" && r.Written() }) {
		t.Fatal("arm1 was not built before the connection was lost: the test proves nothing")
	}
	o, err := landFleet(ctx, list, out, legs, runs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range o.Results {
		data, _ := os.ReadFile(filepath.Join(dir, r.File))
		switch r.Binary.Name {
		case "plain":
			if !r.Verified || string(data) == "old" {
				t.Errorf("plain: verified %v, file %q; want it landed", r.Verified, data)
			}
		default:
			if r.Written() || string(data) != "old" {
				t.Errorf("%s: written %v, file %q; want it failed with its old file", r.Binary.Name, r.Written(), data)
			}
			if !strings.HasPrefix(r.Cause, "lost the connection to BuildKit at unix:///b.sock") || !strings.HasSuffix(r.Cause, "its binaries were not written") {
				t.Errorf("%s: cause %q", r.Binary.Name, r.Cause)
			}
		}
	}
	if sums, _ := os.ReadFile(filepath.Join(dir, "SHA256SUMS")); strings.Contains(string(sums), "arm1") && !strings.Contains(string(sums), sha256Hex("old")) {
		t.Errorf("SHA256SUMS lists arm1 with a hash that is not its old file's:\n%s", sums)
	}
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
