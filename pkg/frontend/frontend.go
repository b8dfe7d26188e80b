// Package frontend runs llbgen inside BuildKit as a gateway frontend, so that
// `docker buildx bake` (or `buildx build -f targets.yaml`) builds a target
// list with nothing but Docker's tooling.
//
// The target list arrives as the build's "dockerfile". Build arguments:
//
//	TARGETS=name1,name2   build only these targets of the list
//	HELPER_VERSION=v...   override helper.version
//	PUBLISH=NAME          the result is an image of the list's publish: block,
//	                      NAME's job image or (helpers) the helpers image
//	GOPROXY, GONOSUMDB, GOPRIVATE, GOINSECURE   as llbgen's environment elsewhere
//
// A GOPROXY with credentials comes as the secret GOPROXY, never as a build
// argument; settings that would skip the checksum database for the helper
// fail the build unless a lock pins its hash. What to build is decided by
// pkg/plan, as for every way of running llbgen; any refusal fails the
// build. Refusals of the list, its lock and its go: image carry the lines
// of the list they are about, which buildctl and buildx print under the
// error.
//
// The result is the same state the LLB path exports: every verified binary
// plus SHA256SUMS.
package frontend

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/dockerui"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/internal/gwcache"
	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/lock"
	"github.com/llbgen/llbgen/pkg/plan"
	"github.com/llbgen/llbgen/pkg/targets"
)

// maxShownTargets is how many of the list's targets an unknown TARGETS
// name shows under its error.
const maxShownTargets = 10

// Build arguments the frontend reads.
const (
	ArgTargets       = "TARGETS"
	ArgHelperVersion = "HELPER_VERSION"
)

// Build is the gateway build function.
func Build(ctx context.Context, c gateway.Client) (*gateway.Result, error) {
	// Every solve imports the cache bake's cache-from (buildctl's
	// --import-cache) names.
	c, err := gwcache.Client(c)
	if err != nil {
		return nil, err
	}
	bc, err := dockerui.NewClient(c)
	if err != nil {
		return nil, fmt.Errorf("reading the build options: %w", err)
	}
	src, err := bc.ReadEntrypoint(ctx, "YAML")
	if err != nil {
		return nil, fmt.Errorf("reading the target list: %w", err)
	}
	req := request{file: src.Filename, data: src.Data, args: bc.BuildArgs, platform: graph.DefaultPlatform(), targets: bc.TargetPlatforms}
	// The toolchain runs on the build platform (the worker's); --platform
	// only says what targets that name no platforms are built for.
	if len(bc.BuildPlatforms) > 0 {
		req.platform = bc.BuildPlatforms[0]
	}
	if req.args, err = publishArgs(req.args); err != nil {
		return nil, err
	}
	if bc.MultiPlatformRequested && strings.TrimSpace(req.args[ArgPublish]) == "" {
		return solvePlatforms(ctx, c, bc, req) // a plan per platform
	}
	p, err := makePlan(ctx, c, req)
	if err != nil {
		return nil, withSource(err, src.Filename, src.Data)
	}
	if what := strings.TrimSpace(req.args[ArgPublish]); what != "" {
		return image(ctx, c, p, what)
	}
	return solve(ctx, c, p)
}

// request is what a build asks the frontend for.
type request struct {
	file     string // the target list's name and bytes
	data     []byte
	args     map[string]string   // build arguments
	platform ocispecs.Platform   // the worker's
	targets  []ocispecs.Platform // --platform
	// only, when set, builds the binaries for this platform alone (a part
	// of a multi-platform result: solvePlatforms).
	only *ocispecs.Platform
}

// makePlan reads the list and its lock and asks the plan what to build:
// the build arguments are the settings, the worker's platform is the
// daemon's, and any refusal fails the build (it has one result).
func makePlan(ctx context.Context, c gateway.Client, r request) (*plan.Plan, error) {
	// dockerui reads at most BuildKit's message size (16 MiB); Parse refuses
	// more than targets.MaxFileBytes before decoding any of it.
	list, err := targets.Parse(r.file, r.data)
	if err != nil {
		return nil, err
	}
	if list, err = Select(list, r.args); err != nil {
		return nil, err
	}
	if r.only != nil {
		if list, err = onlyPlatform(list, *r.only); err != nil {
			return nil, err
		}
	}
	lk, err := readLock(ctx, c, r.file)
	if err != nil {
		return nil, err
	}
	return plan.Make(ctx, plan.Input{
		List:            list,
		Lock:            lk,
		LockPath:        lock.Path(r.file),
		Env:             r.args,
		SourceDateEpoch: r.args["SOURCE_DATE_EPOCH"],
		From:            "build-arg:",
		// Credentials come only as the secret (bake: secret = ["id=GOPROXY,env=GOPROXY"]).
		ProxySecret:  true,
		Platforms:    r.targets,
		AllOrNothing: true,
	}, plan.Daemon{Name: "the builder", Platform: r.platform, Resolver: c})
}

// solve builds the whole graph and returns it as the build's result.
func solve(ctx context.Context, c gateway.Client, p *plan.Plan) (*gateway.Result, error) {
	g, err := graph.Define(p.List, p.Graph)
	if err != nil {
		return nil, err
	}
	def, err := g.Output.Marshal(ctx, llb.Platform(p.Graph.Platform))
	if err != nil {
		return nil, fmt.Errorf("marshalling the graph: %w", err)
	}
	res, err := c.Solve(ctx, gateway.SolveRequest{Definition: def.ToPB()})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// readLock reads FILE.lock from beside the target list in the build's
// Dockerfile input, when it is there (the plan checks that it covers the
// list).
func readLock(ctx context.Context, c gateway.Client, file string) (*lock.File, error) {
	name := lock.Path(file)
	// FollowPaths and IncludePattern are globs: the name goes in escaped.
	st := llb.Local("dockerfile",
		llb.FollowPaths([]string{lock.IncludePattern(name)}),
		llb.SessionID(c.BuildOpts().SessionID),
		llb.SharedKeyHint("dockerfile"),
		llb.WithCustomName("load the lock "+name))
	def, err := st.Marshal(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	res, err := c.Solve(ctx, gateway.SolveRequest{Definition: def.ToPB(), Evaluate: true})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	ref, err := res.SingleRef()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	dir := path.Dir(name)
	if dir == "." {
		dir = "/"
	}
	entries, err := ref.ReadDir(ctx, gateway.ReadDirRequest{Path: dir, IncludePattern: lock.IncludePattern(path.Base(name))})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	found := false
	for _, e := range entries {
		found = found || path.Base(e.Path) == path.Base(name)
	}
	if !found {
		return nil, nil // no lock beside the list
	}
	// One byte past the limit at most, whatever the file's size: Parse
	// refuses it then.
	data, err := ref.ReadFile(ctx, gateway.ReadRequest{Filename: name, Range: &gateway.FileRange{Length: lock.MaxBytes + 1}})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return lock.Parse(name, data)
}

// Select applies the build arguments to a parsed list: TARGETS picks a
// subset (every name must exist), HELPER_VERSION overrides the version.
func Select(list *targets.List, args map[string]string) (*targets.List, error) {
	out := *list
	if v := strings.TrimSpace(args[ArgHelperVersion]); v != "" {
		if err := out.SetHelperVersion(v, "build-arg:"+ArgHelperVersion); err != nil {
			// Shown under it: the version it would override.
			var at []targets.Pos
			for _, h := range list.Helpers {
				at = append(at, h.Pos)
			}
			return nil, &plan.Error{Err: err, Lines: at, BadInput: true}
		}
	}
	names := strings.TrimSpace(args[ArgTargets])
	if names == "" {
		return &out, nil
	}
	byName := map[string]targets.Target{}
	for _, t := range out.Targets { // bound to the version set above
		byName[t.Name] = t
	}
	out.Targets = nil
	seen := map[string]bool{}
	for _, n := range strings.Split(names, ",") {
		n = strings.TrimSpace(n)
		if n == "" || seen[n] {
			continue
		}
		t, ok := byName[n]
		if !ok {
			known := make([]string, 0, len(byName))
			for k := range byName {
				known = append(known, k)
			}
			sort.Strings(known)
			// Shown under it: the list's targets (the first few).
			var lines []targets.Pos
			for _, t := range list.Targets[:min(len(list.Targets), maxShownTargets)] {
				lines = append(lines, t.Pos)
			}
			return nil, &plan.Error{
				Err:      fmt.Errorf("build-arg:%s names %q, which is not a target of %s; known targets: %s", ArgTargets, n, list.File, strings.Join(known, ", ")),
				Lines:    lines,
				BadInput: true,
			}
		}
		seen[n] = true
		out.Targets = append(out.Targets, t)
	}
	return &out, nil
}
