package targets

import (
	"fmt"
	"slices"
	"strings"

	"github.com/containerd/platforms"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// ParsePlatform reads OS/ARCH[/VARIANT] as containerd does and normalizes
// it (linux/aarch64 is linux/arm64, linux/arm is linux/arm/v7). Only Linux
// is built: the images are Linux images.
func ParsePlatform(s string) (ocispecs.Platform, error) {
	if strings.TrimSpace(s) == "" {
		return ocispecs.Platform{}, fmt.Errorf("the platform is empty; write OS/ARCH, e.g. linux/arm64")
	}
	if !strings.Contains(s, "/") {
		return ocispecs.Platform{}, fmt.Errorf("platform %q has no OS; write OS/ARCH[/VARIANT], e.g. linux/%s", s, s)
	}
	p, err := platforms.Parse(s)
	if err != nil {
		return ocispecs.Platform{}, fmt.Errorf("platform %q: %v; write OS/ARCH[/VARIANT], e.g. linux/arm64", s, err)
	}
	p = platforms.Normalize(p)
	if p.OS != "linux" {
		return ocispecs.Platform{}, fmt.Errorf("platform %q is not Linux; the helper runs in Linux images, write linux/%s", s, p.Architecture)
	}
	if !slices.Contains(goArchs, p.Architecture) {
		return ocispecs.Platform{}, fmt.Errorf("platform %q: Go does not build for Linux on %q; write one of linux/%s", s, p.Architecture, strings.Join(goArchs, ", linux/"))
	}
	if err := checkVariant(s, p); err != nil {
		return ocispecs.Platform{}, err
	}
	if !ValidName(PlatformSuffix(p)) {
		return ocispecs.Platform{}, fmt.Errorf("platform %q cannot be part of a file name; write OS/ARCH[/VARIANT] with letters and digits", s)
	}
	return p, nil
}

// goArchs are the architectures Go builds Linux binaries for
// (`go tool dist list`), as containerd normalizes them.
var goArchs = []string{"386", "amd64", "arm", "arm64", "loong64", "mips", "mipsle", "mips64", "mips64le", "ppc64", "ppc64le", "riscv64", "s390x"}

// variants are the variants Go can build for, by architecture (GOARM,
// GOAMD64); an architecture not named has none.
var variants = map[string][]string{
	"arm":   {"v5", "v6", "v7"},
	"amd64": {"v1", "v2", "v3", "v4"},
}

func checkVariant(s string, p ocispecs.Platform) error {
	if p.Variant == "" {
		return nil
	}
	known := variants[p.Architecture]
	for _, v := range known {
		if v == p.Variant {
			return nil
		}
	}
	if len(known) == 0 {
		return fmt.Errorf("platform %q: Go builds %s without a variant; write linux/%s", s, p.Architecture, p.Architecture)
	}
	return fmt.Errorf("platform %q: Go builds %s variants %s only", s, p.Architecture, strings.Join(known, ", "))
}
