// Package frontend runs llbgen inside BuildKit as a gateway frontend, so that
// `docker buildx bake` (or `buildx build -f targets.yaml`) builds a target
// list with nothing but Docker's tooling.
//
// The target list arrives as the build's "dockerfile". Build arguments:
//
//	TARGETS=name1,name2   build only these targets of the list
//	HELPER_VERSION=v...   override helper.version
//	GOPROXY, GONOSUMDB, GOPRIVATE, GOINSECURE   as llbgen's environment elsewhere
//
// A GOPROXY with credentials comes as the secret GOPROXY, never as a build
// argument; settings that would skip the checksum database for the helper
// fail the build unless a lock pins its hash.
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

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/dockerui"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/pkg/daemon"
	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/lock"
	"github.com/llbgen/llbgen/pkg/targets"
)

// Build arguments the frontend reads.
const (
	ArgTargets       = "TARGETS"
	ArgHelperVersion = "HELPER_VERSION"
)

// Build is the gateway build function.
func Build(ctx context.Context, c gateway.Client) (*gateway.Result, error) {
	bc, err := dockerui.NewClient(c)
	if err != nil {
		return nil, fmt.Errorf("reading the build options: %w", err)
	}
	src, err := bc.ReadEntrypoint(ctx, "YAML")
	if err != nil {
		return nil, fmt.Errorf("reading the target list: %w", err)
	}
	// dockerui reads at most BuildKit's message size (16 MiB); Parse refuses
	// more than targets.MaxFileBytes before decoding any of it.
	list, err := targets.Parse(src.Filename, src.Data)
	if err != nil {
		return nil, err
	}
	if list, err = Select(list, bc.BuildArgs); err != nil {
		return nil, err
	}
	env, err := ModuleEnv(bc.BuildArgs)
	if err != nil {
		return nil, err
	}
	lk, err := readLock(ctx, c, src.Filename, list)
	if err != nil {
		return nil, err
	}
	if err := graph.CheckSumDB(env, lk != nil && lk.Helper.Sum != "", "build-arg:"); err != nil {
		return nil, err
	}
	// Credentials come only as the secret (bake: secret = ["id=GOPROXY,env=GOPROXY"]).
	gopt := graph.Options{Env: env, ProxySecret: true}
	if gopt.SourceDateEpoch, err = graph.ParseSourceDateEpoch("build-arg:SOURCE_DATE_EPOCH", bc.BuildArgs["SOURCE_DATE_EPOCH"]); err != nil {
		return nil, err
	}

	// The toolchain runs on the build platform (the worker's); --platform
	// only says what targets that name no platforms are built for.
	platform := graph.DefaultPlatform()
	if len(bc.BuildPlatforms) > 0 {
		platform = bc.BuildPlatforms[0]
	}
	requested, err := TargetPlatforms(bc.TargetPlatforms)
	if err != nil {
		return nil, err
	}
	var target ocispecs.Platform
	switch {
	case len(requested) == 1:
		target = requested[0]
	case len(requested) > 1 && lk != nil:
		return nil, fmt.Errorf("%s pins one platform, the build asks for %s; name the platforms in the list (platforms: [...]) and run llbgen lock", lock.Path(src.Filename), formatAll(requested))
	case len(requested) > 1:
		if list, err = WithPlatforms(list, requested); err != nil {
			return nil, err
		}
	}
	if lk != nil {
		locked, err := platforms.Parse(lk.Platform)
		if err != nil {
			return nil, fmt.Errorf("%s: platform %q: %w", lock.Path(src.Filename), lk.Platform, err)
		}
		if target.OS != "" && platforms.Format(target) != platforms.Format(locked) {
			return nil, fmt.Errorf("%s is for %s, the build asks for %s; run llbgen lock for that platform, or name the platforms in the list", lock.Path(src.Filename), lk.Platform, platforms.Format(target))
		}
		gopt.Platform = platforms.Normalize(locked)
		lk.Apply(&gopt)
		return solve(ctx, c, list, gopt, locked)
	}
	gopt.Platform, gopt.Target = platforms.Normalize(platform), target
	keys := graph.Images(list, gopt.Platform, target)
	resolved, unresolved := daemon.ResolveImages(ctx, c, keys)
	if err, bad := unresolved[keys[0]]; bad {
		return nil, fmt.Errorf("%s", daemon.ImageCause("toolchain image", list.Go.Ref, err))
	}
	if err := daemon.UnresolvedTarget(list, gopt.Platform, target, unresolved); err != nil {
		return nil, err
	}
	gopt.Images = resolved
	return solve(ctx, c, list, gopt, gopt.Platform)
}

// ModuleEnv reads the module settings from the build arguments. A GOPROXY
// with credentials is refused: build arguments are recorded in the build's
// history and provenance, a secret is not. So is one that would leak
// credentials in Go's own messages or hide them in a query
// (graph.CheckProxy), without showing it.
func ModuleEnv(args map[string]string) (map[string]string, error) {
	env := map[string]string{}
	for _, k := range graph.PassThroughEnv {
		if v, ok := args[k]; ok {
			env[k] = v
		}
	}
	if err := graph.CheckProxy(env["GOPROXY"], "build-arg:"); err != nil {
		return nil, err
	}
	if v := env["GOPROXY"]; graph.ProxyHasCredentials(v) {
		return nil, fmt.Errorf("build-arg:GOPROXY=%s carries credentials, and build arguments are recorded in the build's history and provenance; "+
			"pass GOPROXY as a secret instead and leave the build argument unset: docker-bake.hcl reads it from the environment (secret = [\"id=%s,env=GOPROXY\"]), "+
			"docker buildx build takes --secret id=%s,env=GOPROXY", graph.RedactProxy(v), graph.ProxySecretID, graph.ProxySecretID)
	}
	return env, nil
}

// solve builds the whole graph and returns it as the build's result.
func solve(ctx context.Context, c gateway.Client, list *targets.List, gopt graph.Options, platform ocispecs.Platform) (*gateway.Result, error) {
	g, err := graph.Define(list, gopt)
	if err != nil {
		return nil, err
	}
	def, err := g.Output.Marshal(ctx, llb.Platform(platform))
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
// Dockerfile input, when it is there; a lock that does not cover the list
// fails the build.
func readLock(ctx context.Context, c gateway.Client, file string, list *targets.List) (*lock.File, error) {
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
	f, err := lock.Parse(name, data)
	if err != nil {
		return nil, err
	}
	if err := f.Check(name, list); err != nil {
		return nil, err
	}
	return f, nil
}

// Select applies the build arguments to a parsed list: TARGETS picks a
// subset (every name must exist), HELPER_VERSION overrides the version.
func Select(list *targets.List, args map[string]string) (*targets.List, error) {
	out := *list
	if v := strings.TrimSpace(args[ArgHelperVersion]); v != "" {
		if err := out.SetHelperVersion(v, "build-arg:"+ArgHelperVersion); err != nil {
			return nil, err
		}
	}
	names := strings.TrimSpace(args[ArgTargets])
	if names == "" {
		return &out, nil
	}
	byName := map[string]targets.Target{}
	for _, t := range list.Targets {
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
			return nil, fmt.Errorf("build-arg:%s names %q, which is not a target of %s; known targets: %s", ArgTargets, n, list.File, strings.Join(known, ", "))
		}
		seen[n] = true
		out.Targets = append(out.Targets, t)
	}
	return &out, nil
}

// TargetPlatforms checks the build's --platform values as the CLI checks a
// list's platforms: Linux, architectures and variants Go builds, each once.
func TargetPlatforms(ps []ocispecs.Platform) ([]ocispecs.Platform, error) {
	var out []ocispecs.Platform
	seen := map[string]bool{}
	for _, p := range ps {
		norm, err := targets.ParsePlatform(platforms.Format(p))
		if err != nil {
			return nil, fmt.Errorf("--platform: %w", err)
		}
		if key := platforms.Format(norm); !seen[key] {
			seen[key] = true
			out = append(out, norm)
		}
	}
	return out, nil
}

// WithPlatforms builds every target that names no platforms for each of ps,
// as if the list named them: one binary per platform, its name suffixed
// with the platform (docker-credential-ecr-login-NAME-linux-arm64). The
// expanded list is held to targets.MaxBinaries and MaxSetupStepsTotal, as
// Parse holds a list, and a file name that two binaries would then share is
// refused, naming both.
func WithPlatforms(list *targets.List, ps []ocispecs.Platform) (*targets.List, error) {
	out := *list
	out.Targets = make([]targets.Target, len(list.Targets))
	for i, t := range list.Targets {
		if len(t.Platforms) == 0 {
			for _, p := range ps {
				t.Platforms = append(t.Platforms, targets.Platform{Platform: p, Pos: t.Pos})
			}
		}
		out.Targets[i] = t
	}
	if err := checkExpanded(&out, ps); err != nil {
		return nil, err
	}
	byFile := map[string]targets.Binary{}
	for _, b := range out.Binaries() {
		key := strings.ToLower(b.FileName())
		if other, ok := byFile[key]; ok {
			return nil, fmt.Errorf("--platform %s: targets %s (line %d) and %s (line %d) would both write %s; rename one",
				formatAll(ps), other.Target.Name, other.Target.Pos.Line, b.Target.Name, b.Target.Pos.Line, b.FileName())
		}
		byFile[key] = b
	}
	return &out, nil
}

// checkExpanded holds a list expanded by WithPlatforms to the limits Parse
// holds a list to (targets.MaxBinaries, targets.MaxSetupStepsTotal): the
// list passed them with one platform per target, and --platform multiplies.
func checkExpanded(l *targets.List, ps []ocispecs.Platform) error {
	binaries, steps := 0, 0
	for _, t := range l.Targets {
		builds := max(1, len(t.Platforms))
		binaries += builds
		steps += len(t.Setup) * builds
	}
	if binaries > targets.MaxBinaries {
		return fmt.Errorf("--platform %s: the list's %d targets would build %d binaries (one per target and platform), more than the %d a list may build; "+
			"build fewer platforms, select fewer targets (build-arg:%s), or split the list into several", formatAll(ps), len(l.Targets), binaries, targets.MaxBinaries, ArgTargets)
	}
	if steps > targets.MaxSetupStepsTotal {
		return fmt.Errorf("--platform %s: the list's setup steps would run %d times (each target's once per platform it is built for), more than the %d a list may run; "+
			"use fewer steps or platforms, select fewer targets (build-arg:%s), or split the list into several", formatAll(ps), steps, targets.MaxSetupStepsTotal, ArgTargets)
	}
	return nil
}

func formatAll(ps []ocispecs.Platform) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = platforms.Format(p)
	}
	return strings.Join(s, ",")
}
