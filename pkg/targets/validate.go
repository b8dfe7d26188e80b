package targets

import (
	"fmt"
	"strings"

	"github.com/distribution/reference"
	"golang.org/x/mod/semver"
)

// BuildInfoSuffix ends the file of build information beside each binary.
const BuildInfoSuffix = ".buildinfo"

// SBOMSuffix ends the name of the SPDX document beside each binary
// (llbgen build --sbom).
const SBOMSuffix = ".spdx.json"

// stagingOverhead is what the output directory adds to a file's name while
// it is staged: "." before, ".llbgen-tmp-" and 16 hex digits after (see
// pkg/outdir); 8 more bytes are kept spare, as the old PID suffix took them.
const stagingOverhead = 1 + len(".llbgen-tmp-") + 7 + 1 + 16

// maxHelperName bounds a helper's name, which every file name holds.
const maxHelperName = 16

// maxName keeps every file a target writes, staged, within the 255-byte
// limit of common file systems: the binary and its build information,
// whatever the helper's name.
const maxName = 255 - len(FilePrefix) - maxHelperName - 1 - len(BuildInfoSuffix) - stagingOverhead

// checkVersion refuses a helper version that is not a full module version:
// "v1" or "0.12.0" would reach `go install` as a query or fail there.
func checkVersion(errs *ErrorList, v string, p Pos) {
	if v == "" {
		errs.add(p, "helper.version is empty; write a module version, e.g. %s", DefaultHelperVersion)
		return
	}
	if fullSemver(v) {
		return
	}
	hint := DefaultHelperVersion
	switch {
	case fullSemver("v" + v):
		hint = "v" + v
	case semver.IsValid(v):
		hint = semver.Canonical(v)
	case semver.IsValid("v" + v):
		hint = semver.Canonical("v" + v)
	}
	errs.add(p, "helper.version %s is not a full semantic version; write it as a module version, e.g. %s", Quote(v), hint)
}

// fullSemver reports whether v is valid semver with all three numbers.
func fullSemver(v string) bool {
	if !semver.IsValid(v) {
		return false
	}
	core, _, _ := strings.Cut(v, "+")
	core, _, _ = strings.Cut(core, "-")
	return strings.Count(core, ".") == 2
}

// checkImage parses ref; named is nil when ref was refused. what names the
// value in messages ("image", "go image"), example is a reference to suggest.
func checkImage(errs *ErrorList, what, example, ref string, p Pos) (img Image, named reference.Named) {
	if ref == "" {
		errs.add(p, "%s is empty; write an image reference, e.g. %s", what, example)
		return Image{Pos: p}, nil
	}
	if len(ref) > MaxImageRefBytes {
		errs.add(p, "%s is %d bytes, more than the %d allowed: %s; %s", what, len(ref), MaxImageRefBytes, Quote(ref), refLimit.hint)
		return Image{Pos: p}, nil
	}
	named, err := normalize(ref)
	if err != nil {
		errs.add(p, "%s %s: %v; write a reference `docker pull` accepts, e.g. %s", what, Quote(ref), err, example)
		return Image{Ref: ref, Pos: p}, nil
	}
	return Image{Ref: ref, Full: named.String(), Pos: p}, named
}

// normalize parses ref and adds :latest when it has neither tag nor digest.
func normalize(ref string) (reference.Named, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, err
	}
	if _, ok := named.(reference.Digested); ok {
		return named, nil // pinned already; a tag would only add doubt
	}
	return reference.TagNameOnly(named), nil
}

// namePosOr is where t's name was written, or its image when derived.
func (t Target) namePosOr() Pos {
	if t.namePos == (Pos{}) {
		return t.Image.Pos
	}
	return t.namePos
}

func defaultGo() Image {
	named, err := normalize(DefaultGoImage)
	if err != nil {
		panic(err) // a constant; covered by tests
	}
	return Image{Ref: DefaultGoImage, Full: named.String()}
}

// source says how messages point back at targets of one kind of input.
type source struct {
	first   func(Pos) string // where the first user of a name is
	setName string           // how the user gives a target its own name
}

var (
	fromFile = source{
		first:   func(p Pos) string { return fmt.Sprintf("first at line %d", p.Line) },
		setName: "set `name:` on",
	}
	fromFlags = source{
		first:   func(p Pos) string { return fmt.Sprintf("first from --image %d", p.Line) },
		setName: "add --name after",
	}
)

// checkNames refuses names that could not be file names, and names used
// twice, in any case: on a case-insensitive volume (macOS, Windows) "A" and
// "a" write one file.
func checkNames(errs *ErrorList, ts []Target, src source) {
	first := make(map[string]Target, len(ts)) // by lower-case name
	var good []Target
	for _, t := range ts {
		p := t.namePosOr()
		switch {
		case !ValidName(t.Name):
			errs.add(p, "target name %s is not allowed; use letters, digits, '.', '_' and '-', starting with a letter or digit, so no name can escape the output directory", Quote(t.Name))
			continue
		case strings.HasSuffix(strings.ToLower(t.Name), BuildInfoSuffix):
			errs.add(p, "target name %s ends in %s (in any case), as the build-information file beside each binary does; %s the target to give it another", Quote(t.Name), BuildInfoSuffix, src.setName)
			continue
		case strings.HasSuffix(strings.ToLower(t.Name), SBOMSuffix):
			errs.add(p, "target name %s ends in %s (in any case), as the SBOM beside each binary does (llbgen build --sbom); %s the target to give it another", Quote(t.Name), SBOMSuffix, src.setName)
			continue
		case len(t.Name) > maxName:
			errs.add(p, "target name %s is %d bytes; %s the target to give it one of at most %d, so its file name fits", Quote(t.Name), len(t.Name), src.setName, maxName)
			continue
		}
		key := strings.ToLower(t.Name)
		if f, ok := first[key]; ok && f.Name == t.Name {
			errs.add(p, "target name %q is used twice (%s); %s one of them to tell them apart", t.Name, src.first(f.namePosOr()), src.setName)
			continue
		} else if ok {
			errs.add(p, "target name %q differs from %q (%s) only in case, so both write one file on a case-insensitive volume (macOS, Windows); %s one of them to tell them apart", t.Name, f.Name, src.first(f.namePosOr()), src.setName)
			continue
		}
		first[key] = t
		good = append(good, t)
	}
	checkFiles(errs, good)
}

// checkFiles refuses per-platform file names that are too long or that
// another target's binary has, in any case: "a" on linux/arm64 and a target
// named "a-linux-arm64" (or "A-Linux-arm64") would write one file.
func checkFiles(errs *ErrorList, ts []Target) {
	owner := map[string]Binary{} // by lower-case name
	for _, t := range ts {
		if len(t.Platforms) < 2 {
			owner[strings.ToLower(t.Name)] = Binary{Target: t, Name: t.Name, Helper: t.built()[0]}
		}
	}
	for _, t := range ts {
		if len(t.Platforms) < 2 {
			continue
		}
		for i, b := range t.platformBinaries() {
			p := t.Platforms[i].Pos
			if len(b.Name) > maxName {
				errs.add(p, "the file name of target %q on %s is %d bytes; give the target a shorter name, so %q fits in %d", t.Name, t.Platforms[i], len(b.Name), "NAME-"+PlatformSuffix(t.Platforms[i].Platform), maxName)
				continue
			}
			key := strings.ToLower(b.Name)
			if o, ok := owner[key]; ok && o.Name == b.Name {
				errs.add(p, "target %q on %s writes %s, as target %q at line %d does; set `name:` on one of them", t.Name, t.Platforms[i], b.FileName(), o.Target.Name, o.Target.Pos.Line)
				continue
			} else if ok {
				errs.add(p, "target %q on %s writes %s, which differs only in case from %s of target %q at line %d, so both are one file on a case-insensitive volume (macOS, Windows); set `name:` on one of them", t.Name, t.Platforms[i], b.FileName(), o.FileName(), o.Target.Name, o.Target.Pos.Line)
				continue
			}
			owner[key] = b
		}
	}
}
