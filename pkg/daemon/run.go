package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/platforms"
	"github.com/docker/cli/cli/config"
	"github.com/moby/buildkit/client"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/util/grpcerrors"
	digest "github.com/opencontainers/go-digest"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc/codes"

	"github.com/llbgen/llbgen/internal/gwcache"
	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/outdir"
	"github.com/llbgen/llbgen/pkg/plan"
	"github.com/llbgen/llbgen/pkg/targets"
)

// LostError says the connection to the daemon broke during the build.
type LostError struct {
	Addr string
	Err  error
}

func (e *LostError) Error() string {
	return fmt.Sprintf("lost the connection to %s (did the daemon stop?): %v; nothing was written, run again once it is back", describe(e.Addr), plan.FirstLine(e.Err.Error()))
}

func (e *LostError) Unwrap() error { return e.Err }

// Run builds list on the daemon and lands the verified binaries in out. It
// returns an error only when the run as a whole failed (no daemon, lost
// connection, canceled); then out is left as it was. Failed targets are in
// the Outcome.
//
// With opt.Routes, the binaries of the platforms routed to other daemons
// are built there (runFleet).
func Run(ctx context.Context, list *targets.List, out *outdir.Dir, opt Options) (*Outcome, error) {
	switch legs := opt.legs(list); {
	case len(legs) > 1:
		return runFleet(ctx, list, out, legs)
	case len(legs) == 1:
		opt = legs[0].opt // every binary is routed to one daemon
	}
	var s *solve
	var attest string
	if opt.Provenance {
		dir, err := os.MkdirTemp("", "llbgen-attest-")
		if err != nil {
			return nil, fmt.Errorf("provenance: %w", err)
		}
		defer os.RemoveAll(dir)
		attest = dir
	}
	err := withDaemon(ctx, opt, func(k *daemonConn) error {
		s = newSolve(list, out, k.opt, k.worker, k.col)
		return s.run(ctx, k, attest)
	})
	if s == nil {
		out.Discard()
		return nil, err
	}
	o, err := s.land(ctx, err, attest)
	if err != nil || s.prepared == nil || !s.opt.Publish.Wanted() && len(s.opt.Cache.Exports) == 0 {
		return o, err
	}
	// Images and the build cache are made of what landed, so only once
	// the output directory was committed (a canceled or stuck export
	// costs no binary); on the same daemon (s.opt: the address the run
	// settled on), in a connection of their own.
	err = withDaemon(ctx, s.opt, func(k *daemonConn) error {
		if s.opt.Publish.Wanted() {
			s.publishImages(ctx, k, k.col, s.prepared)
		}
		if err := s.exportCache(ctx, k, s.prepared); err != nil {
			s.cacheExport = plan.FirstLine(err.Error())
		}
		return nil
	})
	if err != nil {
		if s.opt.Publish.Wanted() {
			s.notPublished(s.prepared, "not published: "+plan.FirstLine(err.Error()))
		}
		if len(s.opt.Cache.Exports) > 0 && s.cacheExport == "" {
			s.cacheExport = "not exported: " + plan.FirstLine(err.Error())
		}
	}
	o.Images, o.CacheExport = s.images, s.cacheExport
	return o, nil
}

// land ends a run whose sessions are over: unless the run failed as a
// whole (err, or a lost connection), it gives every failed binary its
// cause and commits the output directory.
func (s *solve) land(ctx context.Context, err error, attest string) (*Outcome, error) {
	if err == nil && s.attested {
		err = stageAttestations(attest, s.out)
	}
	if err == nil {
		if lost := s.lostConnection(); lost != nil {
			err = runError(ctx, s.opt.Addr, lost)
		}
	}
	if err != nil {
		s.out.Discard()
		return nil, err
	}
	s.explainFailures()
	if err := s.out.Commit(s.files()); err != nil {
		return nil, fmt.Errorf("writing into %s: %w", s.out.Path(), err)
	}
	s.markRefused(s.out.Refused())
	for i := range s.results {
		s.results[i].Daemon = s.opt.Addr
	}
	o := &Outcome{Out: s.out, Results: s.results, CacheExport: s.cacheExport, Daemon: s.opt.Addr, Runs: s.worker.runs,
		Daemons: []DaemonInfo{{Addr: s.opt.Addr, Runs: s.worker.runs}}}
	if p := s.prepared; p != nil {
		o.GoDigest, o.Locked, o.Sums, o.SumErrors = p.goDigest(), p.pl.Graph.Locked, s.sums, s.sumErrs
	}
	return o, nil
}

// goDigest is the go image's resolved digest, "" when not known.
func (p *prepared) goDigest() digest.Digest {
	g := p.pl.Graph
	return g.Images[graph.ImageKey{Ref: p.pl.List.Go.Full, Platform: platforms.Format(g.Platform)}].Digest
}

// markRefused fails the binaries whose file or build information the
// output directory would not replace (a directory, symlink or special file
// at the name): they did not land.
func (s *solve) markRefused(refused map[string]error) {
	for i := range s.results {
		r := &s.results[i]
		names := []string{r.File, r.File + graph.BuildInfoSuffix}
		if r.SBOM != "" {
			names = append(names, r.SBOM)
		}
		for _, name := range names {
			err, ok := refused[name]
			switch {
			case !ok:
				continue
			case r.Written() || r.Cause == "":
				r.Verified, r.Unverified, r.Cause, r.SBOM = false, "", err.Error(), "" // its unit did not land
			default:
				r.Cause += "; " + err.Error() // failed already, and left out of SHA256SUMS
			}
			break
		}
	}
}

// Session connects to the daemon and runs one build session with BuildKit's
// progress display and the user's registry credentials. prepare receives
// the collector of the session's progress and what the daemon builds, and
// returns the build function.
//
// With attestDir, BuildKit's provenance attestation of the result (mode=min,
// or mode=max with opt.ProvenanceMax) is exported there.
func Session(ctx context.Context, opt Options, prepare func(*collector, worker) gateway.BuildFunc, attestDir string) error {
	return withDaemon(ctx, opt, func(k *daemonConn) error {
		return k.session(ctx, prepare(k.col, k.worker), sessionOpt{attestDir: attestDir})
	})
}

// sessions runs build functions, each in a gateway session of its own;
// a build function's error is the session's.
//
// A run uses one session per binary, not one for all: when an exec fails,
// BuildKit's gateway (v0.34.2, llbBridgeForwarder.wrapSolveError) keeps
// the snapshots it mounted under their ids for the session, and releases
// its own copy of one that an earlier failed exec of the session had
// mounted, twice (once among the exec's inputs, once among its mounts).
// The second release fails, and "releasing already released reference
// W::R" is what the solve returns, in place of the exec's error and the
// vertex it names. Every compile and verify mounts the stage tool, so the
// second binary to fail in a shared session lost its cause.
type sessions interface {
	session(ctx context.Context, fn gateway.BuildFunc, so sessionOpt) error
	// exportSession runs fn in a session whose result goes to exports,
	// and returns the exporters' response.
	exportSession(ctx context.Context, fn gateway.BuildFunc, exports []client.ExportEntry) (map[string]string, error)
	// cacheSession runs fn in a session whose result's cache goes to
	// exports.
	cacheSession(ctx context.Context, fn gateway.BuildFunc, exports []client.CacheOptionsEntry) error
}

// sessionOpt is what a session carries besides its build function.
type sessionOpt struct {
	// attestDir: BuildKit's provenance attestation of the session's result
	// is exported there.
	attestDir string
	// sbomDir: the result is exported there with BuildKit's SBOM
	// attestation of each of its refs (sbom.go).
	sbomDir string
	// name names the build in BuildKit's history (the binary's file), as
	// buildx names its builds (build-arg:BUILDKIT_BUILD_NAME, which
	// `docker buildx history ls` shows): no build function reads it.
	name string
}

// buildNameAttr is the frontend attribute that names a build in BuildKit's
// history.
const buildNameAttr = "build-arg:BUILDKIT_BUILD_NAME"

// daemonConn is one connection to the daemon and one progress display, on
// which build functions run in sessions of their own.
type daemonConn struct {
	c      *client.Client
	opt    Options
	worker worker
	col    *collector
	disp   *display
	// tag names the daemon in a display that several daemons share: see
	// display.session.
	tag    string
	attach []session.Attachable // loaded once, given to every session
}

// withDaemon connects to the daemon, shows the progress of what f runs on
// it, and says why the run failed when f fails.
func withDaemon(ctx context.Context, opt Options, f func(*daemonConn) error) error {
	k, err := dialConn(ctx, opt)
	if err != nil {
		return err
	}
	defer k.c.Close()
	err = withDisplay(ctx, k.opt, func(disp *display) error {
		k.disp = disp
		return f(k)
	})
	return k.failed(ctx, err)
}

// dialConn connects to the daemon opt names (open), for sessions shown on
// a display set later.
func dialConn(ctx context.Context, opt Options) (*daemonConn, error) {
	c, d, err := open(ctx, &opt)
	if err != nil {
		return nil, err
	}
	if opt.StageTool != "" {
		// Without it, the stage tool is compiled: slower, the same files.
		var err error
		if opt.ownTool, err = loadOwnTool(opt.StageTool); err != nil {
			logrus.Debugf("llbgen's own executable cannot be the stage tool, the daemon compiles it: %v", err)
		}
	}
	return &daemonConn{c: c, opt: opt, worker: d, col: newCollector(), attach: attachables(opt.Plan.Env)}, nil
}

// withDisplay shows the progress of the sessions f runs, and the daemons'
// warnings once they are over.
func withDisplay(ctx context.Context, opt Options, f func(*display) error) error {
	disp, err := startDisplay(ctx, opt.ProgressOut, opt.Progress)
	if err != nil {
		return err
	}
	err = f(disp)
	disp.close()
	disp.wait()
	printWarnings(opt.ProgressOut, opt.Progress, disp.warnings)
	return err
}

// failed says why what ran on k failed, or nil.
func (k *daemonConn) failed(ctx context.Context, err error) error {
	// The plan refused the run (a lock for another platform, a go image
	// without a toolchain): its own words, not a failed build's.
	if r := (*refusedError)(nil); errors.As(err, &r) {
		return r.err
	}
	if err != nil {
		return runError(ctx, k.opt.Addr, err)
	}
	return nil
}

// session runs fn in a gateway session of its own, with the user's
// registry credentials (the run's attachables: BuildKit's providers are
// safe for concurrent sessions, and share what they fetch); its gateway
// client records what it solves (recorder). fn's error fails the session,
// and BuildKit records its build as failed. With attestDir, BuildKit's provenance attestation of fn's
// result (mode=min, or mode=max with ProvenanceMax) is exported there.
func (k *daemonConn) session(ctx context.Context, fn gateway.BuildFunc, o sessionOpt) error {
	so := client.SolveOpt{FrontendAttrs: map[string]string{}}
	if o.name != "" {
		so.FrontendAttrs[buildNameAttr] = o.name
	}
	if o.attestDir != "" {
		mode := "mode=min"
		if k.opt.ProvenanceMax {
			mode = "mode=max"
		}
		so.FrontendAttrs["attest:provenance"] = mode
		so.Exports = []client.ExportEntry{{Type: client.ExporterLocal, OutputDir: o.attestDir}}
	}
	if o.sbomDir != "" {
		so.FrontendAttrs["attest:sbom"] = sbomAttr(k.opt.SBOMGenerator)
		so.Exports = []client.ExportEntry{{Type: client.ExporterLocal, OutputDir: o.sbomDir}}
	}
	_, err := k.build(ctx, fn, so)
	return err
}

// exportSession runs fn in a session of its own whose result goes to
// exports (an image pushed or loaded).
func (k *daemonConn) exportSession(ctx context.Context, fn gateway.BuildFunc, exports []client.ExportEntry) (map[string]string, error) {
	return k.build(ctx, fn, client.SolveOpt{Exports: exports})
}

// cacheSession runs fn in a session of its own whose result's build cache
// goes to exports.
func (k *daemonConn) cacheSession(ctx context.Context, fn gateway.BuildFunc, exports []client.CacheOptionsEntry) error {
	_, err := k.build(ctx, fn, client.SolveOpt{CacheExports: exports})
	return err
}

// build runs fn in a gateway session with so and the run's attachables.
func (k *daemonConn) build(ctx context.Context, fn gateway.BuildFunc, so client.SolveOpt) (map[string]string, error) {
	so.Session = k.attach
	so.LocalMounts = k.opt.ownTool.mounts()
	so.CacheImports = k.opt.Cache.Imports
	if so.FrontendAttrs == nil {
		// BuildKit v0.34's client copies the cache imports' attributes
		// into a clone of these, and a clone of nil is nil.
		so.FrontendAttrs = map[string]string{}
	}
	// BuildKit keeps only the text of fn's error: a refusal of the plan
	// is kept here, for withDaemon to return as it is.
	var refused *refusedError
	resp, err := k.c.Build(ctx, so, "llbgen", func(ctx context.Context, gc gateway.Client) (*gateway.Result, error) {
		gc, err := gwcache.Client(gc)
		if err != nil {
			return nil, err
		}
		res, err := fn(ctx, recorder{Client: gc, col: k.col})
		errors.As(err, &refused)
		return res, err
	}, k.disp.session(k.col, k.tag))
	if refused != nil {
		return nil, refused
	}
	if err != nil {
		return nil, err
	}
	return resp.ExporterResponse, nil
}

// stageAttestations moves the attestation files BuildKit exported (JSON,
// beside a copy of the binaries) into the output directory.
func stageAttestations(dir string, out *outdir.Dir) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("provenance: %w", err)
	}
	found := false
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") || !e.Type().IsRegular() {
			continue
		}
		found = true
		src := filepath.Join(dir, e.Name())
		fi, err := os.Stat(src)
		if err != nil {
			return fmt.Errorf("provenance: %w", err)
		}
		err = out.Write(e.Name(), 0o644, fi.ModTime(), func(w io.Writer) error {
			f, err := os.Open(src)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(w, f)
			return err
		})
		if err != nil {
			return fmt.Errorf("provenance: %w", err)
		}
	}
	if !found {
		return fmt.Errorf("provenance: BuildKit exported no attestation")
	}
	return nil
}

// runError says why a whole run failed.
func runError(ctx context.Context, addr string, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("canceled; the output directory was left as it was: %w", ctx.Err())
	case grpcerrors.Code(err) == codes.Unavailable:
		return &LostError{Addr: addr, Err: err}
	}
	return fmt.Errorf("building on %s: %w", describe(addr), err)
}

// attachables give the daemon the user's registry credentials
// (~/.docker/config.json, DOCKER_CONFIG, read once per run), as buildctl
// does, and a GOPROXY with credentials as the secret the download stage
// reads it from.
func attachables(env map[string]string) []session.Attachable {
	cfg := config.LoadDefaultConfigFile(io.Discard)
	as := []session.Attachable{authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: authprovider.LoadAuthConfig(cfg),
	})}
	if v := env["GOPROXY"]; graph.ProxyHasCredentials(v) {
		as = append(as, secretsprovider.FromMap(map[string][]byte{graph.ProxySecretID: []byte(v)}))
	}
	return as
}
