package daemon

import (
	"slices"
	"testing"

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
