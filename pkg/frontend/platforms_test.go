package frontend

import (
	"slices"
	"strings"
	"testing"

	"github.com/llbgen/llbgen/pkg/targets"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
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
