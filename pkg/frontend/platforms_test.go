package frontend

import (
	"strconv"
	"strings"
	"testing"

	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/pkg/targets"
)

const platformsList = `helper: {version: v0.12.0}
targets:
  - image: docker:19.03.12
  - image: docker:19.03.12
    name: multi
    platforms: [linux/amd64, linux/arm64]
  - image: docker:19.03.12
    name: arm
    platforms: [linux/arm64]
`

// A platform's part of a multi-platform build: the targets that name no
// platforms, under their plain names, and of the others their binary of
// that platform, under its name in the whole list.
func TestOnlyPlatform(t *testing.T) {
	list, err := targets.Parse("targets.yaml", []byte(platformsList))
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{
		"amd64": "docker_19.03.12 multi-linux-amd64",
		"arm64": "docker_19.03.12 multi-linux-arm64 arm",
	} {
		l, err := onlyPlatform(list, ocispecs.Platform{OS: "linux", Architecture: p})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, b := range l.Binaries() {
			got = append(got, strings.TrimPrefix(b.FileName(), targets.BinaryPrefix))
		}
		if strings.Join(got, " ") != want {
			t.Errorf("%s: %q, want %q", p, got, want)
		}
	}
	only, _ := targets.Parse("targets.yaml", []byte("helper: {version: v0.12.0}\ntargets:\n  - {image: docker:19.03.12, platforms: [linux/arm64]}\n"))
	if _, err := onlyPlatform(only, ocispecs.Platform{OS: "linux", Architecture: "amd64"}); err == nil || !strings.Contains(err.Error(), "no target of targets.yaml is built for linux/amd64") {
		t.Errorf("a platform no target is built for: %v", err)
	}
}

// A build that asks for platforms is refused what it would leave out, and
// what it would multiply past the limits; a node's part is not held to
// the platforms it does not see.
func TestCheckPlatforms(t *testing.T) {
	amd64 := ocispecs.Platform{OS: "linux", Architecture: "amd64"}
	s390x := ocispecs.Platform{OS: "linux", Architecture: "s390x"}
	req := request{file: "targets.yaml", data: []byte(platformsList), args: map[string]string{}, targets: []ocispecs.Platform{amd64, s390x}}
	if err := checkPlatforms(req, true); err == nil || !strings.Contains(err.Error(), "target multi is for linux/amd64, linux/arm64, and the build asks for linux/amd64, linux/s390x: its linux/arm64 binary would be left out") {
		t.Errorf("a target some of whose platforms are not asked for: %v", err)
	}
	if err := checkPlatforms(req, false); err != nil {
		t.Errorf("a node's part: %v", err)
	}
	var many strings.Builder
	many.WriteString("helper: {version: v0.12.0}\ntargets:\n")
	for i := range targets.MaxBinaries {
		many.WriteString("  - {image: docker:19.03.12, name: t" + strconv.Itoa(i) + "}\n")
	}
	req = request{file: "targets.yaml", data: []byte(many.String()), args: map[string]string{}, targets: []ocispecs.Platform{amd64, s390x}}
	if err := checkPlatforms(req, false); err == nil || !strings.Contains(err.Error(), "more than the") {
		t.Errorf("a list multiplied past the limits: %v", err)
	}
}
