// Package targets is the list of images llbgen builds Docker credential
// helpers for (ECR's by default): its types, its YAML form, and the checks
// that refuse a list before anything is built.
//
// A list reads:
//
//	helper:
//	  version: v0.12.0      # module version of HelperModule
//	go: golang:1.26         # optional toolchain image
//	targets:
//	  - image: docker:19.03.12
//	  - image: gitlab/gitlab-runner:v13.2.1
//	    name: gitlab-runner_v13.2.1   # optional, see DeriveName
//	  - image: gitlab/gitlab-runner:v13.2.1
//	    name: runner-cgo
//	    cgo: true                     # link against the image's own libc
//	    setup: [apt-get update, apt-get install -y gcc libc6-dev]
//	  - image: docker:19.03.12
//	    name: docker-multi
//	    platforms: [linux/amd64, linux/arm64]  # one binary per platform
//	publish:                      # optional: images to build from the targets
//	  # one job image per target: its image with the helper in it ({name},
//	  # as two targets here share an image)
//	  images: "registry.example.com/ci/{repo}:{name}-ecr-login"
//	  # one FROM-scratch image of every binary and SHA256SUMS
//	  helpers: "registry.example.com/ci/ecr-login-helpers:{version}"
//	  # optional, with images: a config.json using the helper for these registries
//	  credHelpers: [123456789012.dkr.ecr.us-east-1.amazonaws.com, public.ecr.aws]
//
// The name templates of publish take {name} (the target's name), {repo}
// (its image's repository path without the domain, nor docker.io's
// library/: docker, gitlab/gitlab-runner), {tag} (its image's tag; latest
// when it has none, sha256-HEX12 when it has only a digest) and {version}
// (the helper version); helpers takes {version} only.
package targets

import (
	"fmt"
	"slices"
	"strings"

	"github.com/containerd/platforms"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	// HelperModule is the Go module whose binary is built for each target.
	HelperModule = "github.com/awslabs/amazon-ecr-credential-helper/ecr-login"
	// DefaultGoImage provides /usr/local/go when a list names no toolchain.
	DefaultGoImage = "golang:1.26"
	// DefaultHelperVersion is used only when no file supplies one (--image flags).
	DefaultHelperVersion = "v0.12.0"
	// FilePrefix starts every output file name: docker-credential-, the
	// helper's name, "-", the binary's name.
	FilePrefix = "docker-credential-"
	// DefaultHelper is the helper a list builds when it says `helper:`.
	DefaultHelper = "ecr-login"
	// BinaryPrefix starts the file names of DefaultHelper's binaries.
	BinaryPrefix = FilePrefix + DefaultHelper + "-"
)

// List is a parsed and validated target list.
type List struct {
	File string // path as given, used in messages
	// Helpers are the credential helpers to build, in the list's order:
	// one for `helper:` (ecr-login), those `helpers:` names otherwise.
	Helpers []Helper
	Go      Image    // the toolchain image (DefaultGoImage when unset)
	Targets []Target // in file order
	// Source is the list file's bytes, for a source map that shows its
	// lines under a failing build step; nil for a list made from --image
	// flags.
	Source []byte
	// GoLines is where the `go:` key and its value are written, GoKey
	// where the key itself is (a refusal of the go image points there);
	// both zero when the list names no go image.
	GoLines Lines
	GoKey   Pos
	// Publish names the images built from the targets; zero when the list
	// publishes none.
	Publish Publish
}

// Helper is the credential helper a list builds, and its version.
type Helper struct {
	// Name is its key under `helpers:`; "" (a `helper:` list, --image
	// flags) is DefaultHelper.
	Name    string
	Version string // module version, like "v0.12.0"
	Pos     Pos
	Lines   Lines // the `helper:` or `helpers:` key and its value; zero when not from the file
	// Custom is a helper the list defines by module (nil for a known one).
	Custom *HelperSpec
}

// Image is a Docker image reference.
type Image struct {
	Ref  string // as written, e.g. "docker:19.03.12"
	Full string // normalized: "docker.io/library/docker:19.03.12"
	Pos  Pos
}

// Target is one image to build the helper for.
type Target struct {
	Image Image
	Name  string // explicit, or derived by DeriveName
	Pos   Pos    // position of the list item
	Lines Lines  // the list item's lines, first to last
	// Cgo links the binary against the image's own C library
	// (CGO_ENABLED=1, with the image's C compiler).
	Cgo bool
	// Setup is shell commands run once in the image, network on, before a
	// cgo compile; their result is the compile stage's root.
	Setup []string
	// Platforms are the platforms built for; empty means the one platform
	// the daemon builds for.
	Platforms []Platform

	// Helpers names the helpers the target builds, as written (`helpers:`
	// of the target); nil is all of the list's.
	Helpers    []string
	helpersPos Pos
	// helpers are the helpers it builds (bindHelpers); multi: the list
	// has several, so each binary's name starts with its helper's.
	helpers []Helper
	multi   bool
	// cgoOff is where `cgo: false` is written; setupPos where setup is.
	cgoOff, setupPos Pos

	namePos Pos // where an explicit name was written; zero when derived
	// suffixed: the target had several platforms before Only kept one,
	// so its binary keeps the name it has in the whole list.
	suffixed bool
}

// Platform is one entry of a target's platforms, normalized.
type Platform struct {
	ocispecs.Platform
	Pos Pos
}

func (p Platform) String() string { return platforms.Format(p.Platform) }

// Binary is one file a list builds: a target on one platform.
type Binary struct {
	Target Target
	// Platform is the target's platform for this binary; nil when the
	// target names none and the binary is built for the daemon's platform.
	Platform *ocispecs.Platform
	// Name is the target's name, followed by -OS-ARCH[-VARIANT] when the
	// target has several platforms; in a list of several helpers, the
	// helper's name and "-" come first (gcr-docker_19.03.12).
	Name string
	// Helper is the credential helper the binary is.
	Helper Helper
}

// FileName is the binary's file name in the output directory:
// docker-credential-<helper>-<target name>[-<os>-<arch>].
func (b Binary) FileName() string {
	if b.Target.multi {
		return FilePrefix + b.Name
	}
	return FilePrefix + b.Helper.FileName() + "-" + b.Name
}

// Cgo reports whether the binary is linked against its image's C library:
// its target says cgo: true, or its helper needs cgo.
func (b Binary) Cgo() bool { return b.Target.Cgo || b.Helper.Spec().Cgo }

// AnyCgo reports whether any binary of t is a cgo binary.
func (t Target) AnyCgo() bool {
	return t.Cgo || slices.ContainsFunc(t.built(), func(h Helper) bool { return h.Spec().Cgo })
}

// built are the helpers t builds: those bound to it, or the default helper
// for a target no list bound (made in code).
func (t Target) built() []Helper {
	if len(t.helpers) == 0 {
		return []Helper{{Version: DefaultHelperVersion}}
	}
	return t.helpers
}

// bindHelpers gives every target the helpers it builds: the list's, or
// those its `helpers:` names; it refuses a name the list does not build.
func (l *List) bindHelpers(errs *ErrorList) {
	for i := range l.Targets {
		t := &l.Targets[i]
		t.multi = len(l.Helpers) > 1
		t.helpers = nil
		if t.Helpers == nil {
			t.helpers = append([]Helper(nil), l.Helpers...)
		}
		for _, name := range t.Helpers {
			j := slices.IndexFunc(l.Helpers, func(h Helper) bool { return h.FileName() == name })
			if j < 0 {
				errs.add(t.helpersPos, "target %s names helper %s, which the list does not build; name one of %s, or add it under the list's helpers:", t.Name, Quote(name), strings.Join(l.helperNames(), ", "))
				continue
			}
			t.helpers = append(t.helpers, l.Helpers[j])
		}
		cgoHelper := ""
		for _, h := range t.helpers {
			if h.Spec().Cgo {
				cgoHelper = h.FileName()
			}
		}
		if cgoHelper != "" && t.cgoOff.Line > 0 {
			errs.add(t.cgoOff, "target %s has cgo: false, but %s is built with cgo against each image's own libraries; remove `cgo: false`", t.Name, cgoHelper)
		}
		if t.setupPos.Line > 0 && !t.AnyCgo() {
			errs.add(t.setupPos, "targets[%d].setup runs only before a cgo compile (a static build uses nothing from the image); add `cgo: true`, build a cgo helper (secretservice), or remove setup", i)
		}
	}
	l.checkHelperFiles(errs)
}

// helperNames are the names of the helpers l builds.
func (l *List) helperNames() []string {
	var names []string
	for _, h := range l.Helpers {
		names = append(names, h.FileName())
	}
	return names
}

// checkHelperFiles refuses two binaries of different helpers that write
// one file, in any case: helper gcr for target x-y, and helper gcr-x for
// target y.
func (l *List) checkHelperFiles(errs *ErrorList) {
	if len(l.Helpers) < 2 {
		return // one helper: the target names are checked apart already
	}
	owner := map[string]Binary{}
targets:
	for _, t := range l.Targets {
		for _, b := range t.Binaries() {
			key := strings.ToLower(b.FileName())
			if o, ok := owner[key]; ok {
				// one clash per target: renaming it settles the rest
				errs.add(t.Pos, "target %s's %s binary writes %s, as target %s's %s binary (line %d) does; rename one of the targets", t.Name, b.Helper.FileName(), b.FileName(), o.Target.Name, o.Helper.FileName(), o.Target.Pos.Line)
				continue targets
			}
			owner[key] = b
		}
	}
}

// helperName is name, or DefaultHelper for "".
func helperName(name string) string {
	if name == "" {
		return DefaultHelper
	}
	return name
}

// Binaries lists the files t builds: for each helper it builds, in the
// list's order, one per platform.
func (t Target) Binaries() []Binary {
	var out []Binary
	for _, h := range t.built() {
		for _, b := range t.platformBinaries() {
			b.Helper = h
			if t.multi {
				b.Name = h.FileName() + "-" + b.Name
			}
			out = append(out, b)
		}
	}
	return out
}

// platformBinaries are t's binaries of one helper, named without it: one
// per platform, in the order of its platforms.
func (t Target) platformBinaries() []Binary {
	if len(t.Platforms) == 0 {
		return []Binary{{Target: t, Name: t.Name}}
	}
	if len(t.Platforms) == 1 && !t.suffixed {
		p := t.Platforms[0].Platform
		return []Binary{{Target: t, Platform: &p, Name: t.Name}}
	}
	out := make([]Binary, 0, len(t.Platforms))
	for _, tp := range t.Platforms {
		p := tp.Platform
		out = append(out, Binary{Target: t, Platform: &p, Name: t.Name + "-" + PlatformSuffix(p)})
	}
	return out
}

// PlatformSuffix is how a platform ends a file name: linux-arm64, linux-arm-v7.
func PlatformSuffix(p ocispecs.Platform) string {
	s := p.OS + "-" + p.Architecture
	if p.Variant != "" {
		s += "-" + p.Variant
	}
	return s
}

// Binaries lists every file the list builds, in list order.
func (l *List) Binaries() []Binary {
	var out []Binary
	for _, t := range l.Targets {
		out = append(out, t.Binaries()...)
	}
	return out
}

// Pos is a place in a target list: file, 1-based line and column.
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// Bare is the version without its leading "v": "0.12.0".
func (h Helper) Bare() string {
	if len(h.Version) > 0 && h.Version[0] == 'v' {
		return h.Version[1:]
	}
	return h.Version
}
