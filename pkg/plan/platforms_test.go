package plan

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/platforms"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/pkg/targets"
)

func plat(os, arch, variant string) ocispecs.Platform {
	return ocispecs.Platform{OS: os, Architecture: arch, Variant: variant}
}

// --platform values are checked as the CLI checks a list's platforms.
func TestTargetPlatforms(t *testing.T) {
	got, err := TargetPlatforms([]ocispecs.Platform{plat("linux", "amd64", ""), plat("linux", "aarch64", ""), plat("linux", "arm64", "")})
	if err != nil || len(got) != 2 || got[1].Architecture != "arm64" {
		t.Errorf("normalized, each once: %v %v", got, err)
	}
	for _, bad := range []ocispecs.Platform{plat("windows", "amd64", ""), plat("linux", "sparc", ""), plat("linux", "arm64", "v9")} {
		if _, err := TargetPlatforms([]ocispecs.Platform{bad}); err == nil || !strings.HasPrefix(err.Error(), "--platform: ") {
			t.Errorf("%v accepted: %v", bad, err)
		}
	}
}

// Several --platform values build every target without platforms for each
// of them, under platform-suffixed names; targets with platforms keep theirs.
func TestWithPlatforms(t *testing.T) {
	list, err := targets.Parse("targets.yaml", []byte(`helper: {version: v0.12.0}
targets:
  - image: docker:19.03.12
  - image: docker:20.10
    name: pinned
    platforms: [linux/arm64]
`))
	if err != nil {
		t.Fatal(err)
	}
	out, err := WithPlatforms(list, []ocispecs.Platform{plat("linux", "amd64", ""), plat("linux", "arm64", "")})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range out.Binaries() {
		names = append(names, b.FileName())
	}
	want := []string{"docker-credential-ecr-login-docker_19.03.12-linux-amd64", "docker-credential-ecr-login-docker_19.03.12-linux-arm64", "docker-credential-ecr-login-pinned"}
	if !slices.Equal(names, want) {
		t.Errorf("binaries %q, want %q", names, want)
	}
	if len(list.Targets[0].Platforms) != 0 {
		t.Error("the parsed list was changed")
	}

	clash, err := targets.Parse("targets.yaml", []byte(`helper: {version: v0.12.0}
targets:
  - image: docker:19.03.12
    name: a
  - image: docker:20.10
    name: a-linux-amd64
    platforms: [linux/arm64]
`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WithPlatforms(clash, []ocispecs.Platform{plat("linux", "amd64", ""), plat("linux", "arm64", "")}); err == nil || !strings.Contains(err.Error(), "would both write docker-credential-ecr-login-a-linux-amd64") {
		t.Errorf("a name clash after expansion: %v", err)
	}
}

// Several --platform values multiply a list that Parse held to its limits:
// the expanded list is held to them again, binaries and setup steps (each
// target's once per platform), and refused quickly.
func TestWithPlatformsLimits(t *testing.T) {
	five := []ocispecs.Platform{plat("linux", "amd64", ""), plat("linux", "arm64", ""), plat("linux", "386", ""), plat("linux", "ppc64le", ""), plat("linux", "s390x", "")}
	manyTargets := func(n int, target string) *targets.List {
		t.Helper()
		var b strings.Builder
		b.WriteString("helper: {version: v0.12.0}\ntargets:\n")
		for i := range n {
			fmt.Fprintf(&b, target, i)
		}
		list, err := targets.Parse("targets.yaml", []byte(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		return list
	}

	list := manyTargets(targets.MaxTargets, "  - {image: docker:20.10, name: t%d}\n")
	start := time.Now()
	_, err := WithPlatforms(list, five)
	if took := time.Since(start); took > time.Second {
		t.Errorf("took %v", took)
	}
	want := "--platform linux/amd64,linux/arm64,linux/386,linux/ppc64le,linux/s390x: the list's 1000 targets would build 5000 binaries (one per target, helper and platform), " +
		"more than the 4000 a list may build; build fewer platforms, select fewer targets (build-arg:TARGETS), or split the list into several"
	if err == nil || err.Error() != want {
		t.Errorf("1,000 targets on 5 platforms: %v\nwant %q", err, want)
	}
	if _, err := WithPlatforms(list, five[:4]); err != nil {
		t.Errorf("1,000 targets on 4 platforms, at the limit: %v", err)
	}

	// 40 targets with 100 setup steps: 4,000 steps, the limit; on two
	// platforms, twice that.
	steps := "[" + strings.TrimSuffix(strings.Repeat("make, ", targets.MaxSetupSteps), ", ") + "]"
	setup := manyTargets(targets.MaxSetupStepsTotal/targets.MaxSetupSteps, "  - {image: docker:20.10, name: t%d, cgo: true, setup: "+steps+"}\n")
	_, err = WithPlatforms(setup, five[:2])
	want = "--platform linux/amd64,linux/arm64: the list's setup steps would run 8000 times (each target's once per platform it is built for), " +
		"more than the 4000 a list may run; use fewer steps or platforms, select fewer targets (build-arg:TARGETS), or split the list into several"
	if err == nil || err.Error() != want {
		t.Errorf("4,000 setup steps on 2 platforms: %v\nwant %q", err, want)
	}

	// Targets that name their platforms keep them and count as they are.
	pinned := manyTargets(targets.MaxTargets, "  - {image: docker:20.10, name: t%d, platforms: [linux/amd64, linux/arm64]}\n")
	if _, err := WithPlatforms(pinned, five); err != nil {
		t.Errorf("targets with platforms are not multiplied: %v", err)
	}
}

// The build's --platform: one names what targets without platforms are
// built for; several expand them; a lock pins one platform, which the
// build must ask for.
func TestMakePlatforms(t *testing.T) {
	list, err := targets.Parse("targets.yaml", []byte("helper: {version: v0.12.0}\ntargets:\n  - image: docker:19.03.12\n"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Make(t.Context(), Input{List: list, Platforms: []ocispecs.Platform{plat("linux", "aarch64", "")}}, Daemon{Platform: plat("linux", "amd64", "")})
	if err != nil || platforms.Format(p.Graph.Target) != "linux/arm64" || platforms.Format(p.Graph.Platform) != "linux/amd64" || len(p.List.Binaries()) != 1 {
		t.Errorf("one platform: %+v %v", p, err)
	}
	if got := platforms.Format(p.PlatformOf(p.List.Binaries()[0])); got != "linux/arm64" {
		t.Errorf("built for %s", got)
	}
	two := []ocispecs.Platform{plat("linux", "amd64", ""), plat("linux", "arm64", "")}
	p, err = Make(t.Context(), Input{List: list, Platforms: two}, Daemon{})
	if err != nil || len(p.List.Binaries()) != 2 || len(list.Binaries()) != 1 {
		t.Errorf("two platforms: %+v %v", p, err)
	}

	lk := lockFor(t, list, plat("linux", "amd64", ""))
	_, err = Make(t.Context(), Input{List: list, Lock: lk, LockPath: "targets.yaml.lock", Platforms: two}, Daemon{})
	if err == nil || err.Error() != "targets.yaml.lock pins one platform, the build asks for linux/amd64,linux/arm64; name the platforms in the list (platforms: [...]) and run llbgen lock" {
		t.Errorf("a lock and two platforms: %v", err)
	}
	_, err = Make(t.Context(), Input{List: list, Lock: lk, LockPath: "targets.yaml.lock", Platforms: two[1:]}, Daemon{})
	if err == nil || err.Error() != "targets.yaml.lock is for linux/amd64, the build asks for linux/arm64; run llbgen lock for that platform, or name the platforms in the list" {
		t.Errorf("a lock for another platform: %v", err)
	}
	if _, err := Make(t.Context(), Input{List: list, Platforms: []ocispecs.Platform{plat("windows", "amd64", "")}}, Daemon{}); err == nil || !strings.HasPrefix(err.Error(), "--platform: ") {
		t.Errorf("windows: %v", err)
	}
}
