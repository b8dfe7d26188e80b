package daemon

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/containerd/platforms"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/pkg/outdir"
	"github.com/llbgen/llbgen/pkg/plan"
	"github.com/llbgen/llbgen/pkg/targets"
)

// Route sends the binaries of some platforms to a daemon of their own
// (`--addr linux/arm64=tcp://arm64-builder:1234`, or a node of a buildx
// builder): there they are compiled and verified, on that daemon's
// platform. A binary of a platform no route names goes to Options.Addr,
// as does a target that names no platform.
type Route struct {
	Platforms []ocispecs.Platform
	Addr      string
	TLS       TLS
}

// leg is the part of a run one daemon builds: the list's binaries routed
// to it, under their names in the whole list.
type leg struct {
	opt  Options
	list *targets.List
}

// legs shares list's binaries among the daemons opt routes them to, the
// default daemon's part first; a daemon that builds nothing has no leg.
// Two routes to one address are one leg.
func (o Options) legs(list *targets.List) []leg {
	route := func(b targets.Binary) int {
		if b.Platform == nil {
			return -1
		}
		p := platforms.Normalize(*b.Platform)
		for i, r := range o.Routes {
			if platforms.Any(r.Platforms...).Match(p) {
				return i
			}
		}
		return -1
	}
	var out []leg
	seen := map[string]bool{}
	add := func(opt Options, keep func(targets.Binary) bool) {
		if seen[opt.Addr] {
			return
		}
		seen[opt.Addr] = true
		if l := list.Only(keep); l != nil {
			out = append(out, leg{opt: opt, list: l})
		}
	}
	add(o, func(b targets.Binary) bool { r := route(b); return r < 0 || o.Routes[r].Addr == o.Addr })
	for _, r := range o.Routes {
		opt := o
		opt.Addr, opt.TLS, opt.Routes = r.Addr, r.TLS, nil
		add(opt, func(b targets.Binary) bool { i := route(b); return i >= 0 && o.Routes[i].Addr == r.Addr })
	}
	return out
}

// FleetError is a run of several daemons in which none built anything:
// each daemon's error, in the order of the legs.
type FleetError struct{ Errs []error }

func (e *FleetError) Error() string {
	lines := make([]string, len(e.Errs))
	for i, err := range e.Errs {
		lines[i] = plan.FirstLine(err.Error())
	}
	return "no daemon built its part, the output directory was left as it was: " + strings.Join(lines, "; ")
}

func (e *FleetError) Unwrap() []error { return e.Errs }

// runFleet is Run on several daemons, one leg each, all at once and in
// one progress display: each leg is prepared and built as a run of its
// own on its daemon (its plan made with that daemon's facts), its files
// staged in the one output directory, which is committed once, with one
// SHA256SUMS. A daemon that cannot be reached, refuses its plan or is lost
// costs only its leg: its binaries fail with its error. Only when every
// leg failed so, or the run was canceled, is out left as it was.
func runFleet(ctx context.Context, list *targets.List, out *outdir.Dir, legs []leg) (*Outcome, error) {
	conns := make([]*daemonConn, len(legs))
	errs := make([]error, len(legs))
	var wg sync.WaitGroup
	for i, l := range legs {
		wg.Go(func() { conns[i], errs[i] = dialConn(ctx, l.opt) })
	}
	wg.Wait()
	for _, k := range conns {
		if k != nil {
			defer k.c.Close()
		}
	}
	solves := make([]*solve, len(legs))
	if slices.ContainsFunc(conns, func(k *daemonConn) bool { return k != nil }) {
		_ = withDisplay(ctx, legs[0].opt, func(disp *display) error {
			var wg sync.WaitGroup
			for i, k := range conns {
				if k == nil {
					continue
				}
				k.disp = disp
				wg.Go(func() {
					s := newSolve(legs[i].list, out, k.opt, k.worker, k.col)
					solves[i] = s
					err := s.run(ctx, k, "")
					if err == nil {
						if lost := s.lostConnection(); lost != nil {
							err = lost
						}
					}
					errs[i] = k.failed(ctx, err)
				})
			}
			wg.Wait()
			return nil
		})
	}
	if err := ctx.Err(); err != nil {
		out.Discard()
		return nil, runError(ctx, "", err)
	}
	if !slices.Contains(errs, nil) {
		out.Discard()
		return nil, &FleetError{Errs: errs}
	}
	byName := map[string]Result{}
	o := &Outcome{Out: out}
	for i, l := range legs {
		addr := l.opt.Addr
		if k := conns[i]; k != nil {
			addr = k.opt.Addr // the default, as open settled it
			o.Daemons = append(o.Daemons, DaemonInfo{Addr: addr, Runs: k.worker.runs})
		}
		s := solves[i]
		if errs[i] == nil {
			s.explainFailures()
			for _, r := range s.results {
				r.Daemon = addr
				byName[r.Binary.Name] = r
			}
			continue
		}
		// The leg's binaries fail with its daemon's error, the rest land.
		cause := plan.FirstLine(errs[i].Error())
		if !strings.Contains(cause, describe(addr)) && !strings.Contains(cause, addr) {
			cause = describe(addr) + ": " + cause
		}
		for _, b := range l.list.Binaries() {
			r := Result{Target: b.Target, Binary: b, File: b.FileName(), Daemon: addr, Cause: cause}
			if b.Platform != nil {
				r.Platform = platforms.Format(platforms.Normalize(*b.Platform))
			}
			byName[b.Name] = r
		}
	}
	all := &solve{list: list, out: out}
	for _, b := range list.Binaries() {
		r, ok := byName[b.Name]
		if !ok {
			return nil, fmt.Errorf("no daemon was given %s", b.Name) // legs covers every binary
		}
		all.results = append(all.results, r)
	}
	if err := out.Commit(all.files()); err != nil {
		return nil, fmt.Errorf("writing into %s: %w", out.Path(), err)
	}
	all.markRefused(out.Refused())
	o.Results = all.results
	if len(o.Daemons) > 0 {
		o.Daemon, o.Runs = o.Daemons[0].Addr, o.Daemons[0].Runs
	}
	for _, s := range solves {
		if s != nil && s.prepared != nil { // the first daemon's go image
			o.GoDigest, o.ModuleSum = s.prepared.goDigest(), s.prepared.pl.Graph.ModuleSum
			break
		}
	}
	return o, nil
}
