package plan

import (
	"fmt"
	"strings"

	"github.com/containerd/platforms"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/pkg/lock"
	"github.com/llbgen/llbgen/pkg/targets"
)

// platforms decides, before any daemon is asked, what targets that name
// no platforms are built for (the build's --platform) and, with a lock,
// what the toolchain runs on: the lock's platform, which the daemon's must
// then be.
func (p *Plan) platforms(in Input, lk *lock.File) error {
	requested, err := TargetPlatforms(in.Platforms)
	if err != nil {
		return badInput(err)
	}
	switch {
	case len(requested) == 1:
		p.Graph.Target = requested[0]
	case len(requested) > 1 && lk != nil:
		return badInput(fmt.Errorf("%s pins one platform, the build asks for %s; name the platforms in the list (platforms: [...]) and run llbgen lock", in.LockPath, formatAll(requested)))
	case len(requested) > 1:
		if p.List, err = WithPlatforms(p.List, requested); err != nil {
			return badInput(err)
		}
	}
	if lk == nil {
		return nil
	}
	locked, err := platforms.Parse(lk.Platform)
	if err != nil {
		return badInput(fmt.Errorf("%s: platform %q: %w", in.LockPath, lk.Platform, err))
	}
	locked = platforms.Normalize(locked)
	if t := p.Graph.Target; t.OS != "" && platforms.Format(t) != platforms.Format(locked) {
		return badInput(fmt.Errorf("%s is for %s, the build asks for %s; run llbgen lock for that platform, or name the platforms in the list", in.LockPath, lk.Platform, platforms.Format(t)))
	}
	p.Graph.Platform = locked
	return nil
}

// TargetPlatforms checks the build's --platform values as a list's
// platforms are checked: Linux, architectures and variants Go builds,
// each once.
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
		binaries += builds * max(1, len(t.Binaries())/max(1, len(t.Platforms)))
		steps += len(t.Setup) * builds
	}
	if binaries > targets.MaxBinaries {
		return fmt.Errorf("--platform %s: the list's %d targets would build %d binaries (one per target, helper and platform), more than the %d a list may build; "+
			"build fewer platforms, select fewer targets (build-arg:TARGETS), or split the list into several", formatAll(ps), len(l.Targets), binaries, targets.MaxBinaries)
	}
	if steps > targets.MaxSetupStepsTotal {
		return fmt.Errorf("--platform %s: the list's setup steps would run %d times (each target's once per platform it is built for), more than the %d a list may run; "+
			"use fewer steps or platforms, select fewer targets (build-arg:TARGETS), or split the list into several", formatAll(ps), steps, targets.MaxSetupStepsTotal)
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
