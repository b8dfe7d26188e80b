package daemon

import (
	"context"
	"errors"
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
// each daemon's error, in the order of the legs, each line naming its
// daemon.
type FleetError struct{ Lines []string }

func (e *FleetError) Error() string {
	return "no daemon built its part, the output directory was left as it was: " + strings.Join(e.Lines, "; ")
}

// legRun is how one leg went: the daemon it settled on and what that
// runs, its run (nil when it never started), and its error.
type legRun struct {
	addr, runs string
	s          *solve
	err        error
}

// runFleet is Run on several daemons, one leg each, all at once and in
// one progress display: each leg is prepared and built as a run of its
// own on its daemon (its plan made with that daemon's facts), its files
// staged in the one output directory, which is committed once, with one
// SHA256SUMS (landFleet).
func runFleet(ctx context.Context, list *targets.List, out *outdir.Dir, legs []leg) (*Outcome, error) {
	runs := make([]legRun, len(legs))
	conns := make([]*daemonConn, len(legs))
	var wg sync.WaitGroup
	for i, l := range legs {
		runs[i].addr = l.opt.Addr
		wg.Go(func() {
			k, err := dialConn(ctx, l.opt)
			conns[i], runs[i].err = k, err
			if k != nil {
				runs[i].addr, runs[i].runs = k.opt.Addr, k.worker.runs // the default, as open settled it
			}
		})
	}
	wg.Wait()
	for _, k := range conns {
		if k != nil {
			defer k.c.Close()
		}
	}
	if slices.ContainsFunc(conns, func(k *daemonConn) bool { return k != nil }) {
		err := withDisplay(ctx, legs[0].opt, func(disp *display) error {
			var wg sync.WaitGroup
			for i, k := range conns {
				if k == nil {
					continue
				}
				k.disp, k.tag = disp, runs[i].addr
				s := newSolve(legs[i].list, out, k.opt, k.worker, k.col)
				runs[i].s = s
				wg.Go(func() { runs[i].err = k.failed(ctx, s.runLeg(ctx, k)) })
			}
			wg.Wait()
			return nil
		})
		if err != nil { // no display: nothing ran
			out.Discard()
			return nil, err
		}
	}
	return landFleet(ctx, list, out, legs, runs)
}

// runLeg is a leg's run: as run, but a lost connection is its error.
func (s *solve) runLeg(ctx context.Context, ss sessions) error {
	if err := s.run(ctx, ss, ""); err != nil {
		return err
	}
	return s.lostConnection()
}

// landFleet ends a run of several daemons: a leg that failed as a whole (no
// daemon, a refused plan, a lost connection) has its staged files dropped
// and its binaries failed with its daemon's error, in one line naming the
// daemon; the others' binaries land, with one commit. Only when every leg
// failed, or the run was canceled, is out left as it was.
func landFleet(ctx context.Context, list *targets.List, out *outdir.Dir, legs []leg, runs []legRun) (*Outcome, error) {
	if err := ctx.Err(); err != nil {
		out.Discard()
		return nil, runError(ctx, "", err)
	}
	causes := make([]string, len(runs))
	for i, r := range runs {
		if r.err != nil {
			causes[i] = legCause(r.addr, r.err)
		}
	}
	if !slices.ContainsFunc(runs, func(r legRun) bool { return r.err == nil }) {
		out.Discard()
		return nil, &FleetError{Lines: causes}
	}
	byName := map[string]Result{}
	o := &Outcome{Out: out}
	for i, l := range legs {
		r := runs[i]
		o.Daemons = append(o.Daemons, DaemonInfo{Addr: r.addr, Runs: r.runs})
		if r.err == nil {
			r.s.explainFailures()
			for _, res := range r.s.results {
				res.Daemon = r.addr
				byName[res.Binary.Name] = res
			}
			continue
		}
		if r.s != nil {
			r.s.dropStaged() // what it built before it failed does not land
		}
		for _, b := range l.list.Binaries() {
			res := Result{Target: b.Target, Binary: b, File: b.FileName(), Daemon: r.addr, Cause: causes[i]}
			if b.Platform != nil {
				res.Platform = platforms.Format(platforms.Normalize(*b.Platform))
			}
			byName[b.Name] = res
		}
	}
	all := &solve{list: list, out: out}
	for _, b := range list.Binaries() {
		res, ok := byName[b.Name]
		if !ok {
			out.Discard()
			return nil, fmt.Errorf("no daemon was given %s", b.Name) // legs covers every binary
		}
		all.results = append(all.results, res)
	}
	if err := out.Commit(all.files()); err != nil {
		return nil, fmt.Errorf("writing into %s: %w", out.Path(), err)
	}
	all.markRefused(out.Refused())
	o.Results = all.results
	o.Daemon, o.Runs = o.Daemons[0].Addr, o.Daemons[0].Runs
	for _, r := range runs {
		if r.err == nil && r.s.prepared != nil { // the first daemon's go image
			o.GoDigest, o.Locked = r.s.prepared.goDigest(), r.s.prepared.pl.Graph.Locked
			break
		}
	}
	o.Sums, o.SumErrors = fleetSums(runs)
	return o, nil
}

// fleetSums are the module hashes every leg read: one module has one
// hash, and daemons that read two tell it as the reason there is none.
func fleetSums(runs []legRun) (map[string]string, map[string]string) {
	sums, errs := map[string]string{}, map[string]string{}
	for _, r := range runs {
		if r.err != nil || r.s == nil {
			continue
		}
		for k, why := range r.s.sumErrs {
			errs[k] = why + " (on " + describe(r.addr) + ")"
		}
		for k, v := range r.s.sums {
			switch other, ok := sums[k]; {
			case v == "":
			case ok && other != v:
				errs[k] = fmt.Sprintf("the daemons downloaded two hashes of %s: %s and %s", k, other, v)
			default:
				sums[k] = v
			}
		}
	}
	for k, why := range errs {
		if strings.HasPrefix(why, "the daemons downloaded two hashes") {
			delete(sums, k)
		} else if _, ok := sums[k]; ok {
			delete(errs, k) // another daemon read it
		}
	}
	return sums, errs
}

// legCause is why a leg's binaries failed, in one line naming its daemon.
func legCause(addr string, err error) string {
	var lost *LostError
	if errors.As(err, &lost) {
		return fmt.Sprintf("lost the connection to %s (did the daemon stop?): %s; its binaries were not written", describe(addr), plan.FirstLine(lost.Err.Error()))
	}
	cause := plan.FirstLine(err.Error())
	if !strings.Contains(cause, describe(addr)) && !strings.Contains(cause, addr) {
		cause = describe(addr) + ": " + cause
	}
	return cause
}
