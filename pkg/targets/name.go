package targets

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/distribution/reference"
)

// validName starts with a letter or digit, so "." and ".." are out, and has
// no "/", so a name cannot leave the output directory.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// ValidName reports whether s is a usable target name.
func ValidName(s string) bool { return validName.MatchString(s) }

// DeriveName gives the default target name for an image reference: the last
// path element of the repository, "_", and the tag. An image without a tag
// gets "latest"; a digest-only image gets the first 12 hex digits of its
// digest. docker:19.03.12 gives docker_19.03.12.
func DeriveName(ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", ref, err)
	}
	return deriveName(named), nil
}

func deriveName(named reference.Named) string {
	path := reference.Path(named)
	base := path[strings.LastIndex(path, "/")+1:]
	if t, ok := named.(reference.Tagged); ok {
		return base + "_" + t.Tag()
	}
	if d, ok := named.(reference.Digested); ok {
		hex := d.Digest().Encoded()
		return base + "_" + hex[:min(12, len(hex))]
	}
	return base + "_latest"
}
