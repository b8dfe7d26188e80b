package targets

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Limits on a target list. Each is far above what a real list needs and low
// enough that any input is read or refused in well under a second and
// 100 MB, by llbgen and by the frontend inside BuildKit alike. The README
// ("The target list") and targets.schema.json state them too.
const (
	// MaxFileBytes bounds the file; only this many bytes (and one more, to
	// tell) are read. The YAML reader needs up to ~130 bytes of memory per
	// byte of a dense flow list, so 512 KiB keeps it under 70 MB; a list of
	// MaxTargets targets takes about 100 KiB.
	MaxFileBytes = 512 << 10
	// MaxNodes bounds the YAML nodes (keys, values, list entries) the list
	// is read as, each alias counted as every node it repeats, so that an
	// alias cannot multiply a small file ("billion laughs").
	MaxNodes = 50_000
	// MaxTargets bounds the entries of targets.
	MaxTargets = 1_000
	// MaxBinaries bounds the files a list builds: one per target and platform.
	MaxBinaries = 4_000
	// MaxSetupSteps bounds one target's setup.
	MaxSetupSteps = 100
	// MaxSetupStepsTotal bounds the setup steps of the whole list, each
	// target's counted once per platform it is built for, as they run.
	MaxSetupStepsTotal = 4_000
	// MaxSetupBytes bounds one setup command.
	MaxSetupBytes = 4 << 10
	// MaxImageRefBytes bounds an image reference (image, go, the publish
	// name templates and the names they give). A registry's
	// DNS name (253 bytes) and port, a path of the 255 bytes
	// distribution/reference allows, a 128-byte tag and a sha512 digest fit.
	MaxImageRefBytes = 1024
	// MaxValueBytes bounds every other string: helper.version, a name, a
	// platform, a credHelpers registry, a key.
	MaxValueBytes = 255
	// MaxCredHelpers bounds publish.credHelpers: the registries a job
	// image's config.json sends to the helper.
	MaxCredHelpers = 100
	// MaxErrors is how many refusals an ErrorList prints; one more line
	// says how many it left out.
	MaxErrors = 20
	// maxQuoted is how much of a value a message quotes.
	maxQuoted = 60
)

// lengthLimit is the most bytes a kind of value may have, and what to do
// about a longer one.
type lengthLimit struct {
	max  int
	hint string
}

var (
	refLimit     = lengthLimit{MaxImageRefBytes, "no reference `docker pull` accepts is longer; check the value"}
	valueLimit   = lengthLimit{MaxValueBytes, "shorten it"}
	versionLimit = lengthLimit{MaxValueBytes, "write a module version, e.g. " + DefaultHelperVersion}
	setupLimit   = lengthLimit{MaxSetupBytes, "split it into several setup steps"}
)

// Quote is s quoted for a message, cut after maxQuoted bytes (at a rune
// boundary) with its length: "aaaa…" (5242880 bytes). Every value llbgen
// echoes from input it does not control goes through it.
func Quote(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	return strconv.Quote(clip(s)) + fmt.Sprintf(" (%d bytes)", len(s))
}

// clip is s cut after maxQuoted bytes, with "…" when it was cut.
func clip(s string) string {
	if len(s) <= maxQuoted {
		return s
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
