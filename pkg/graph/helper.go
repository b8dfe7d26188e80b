package graph

import (
	"github.com/moby/buildkit/client/llb"

	"github.com/llbgen/llbgen/pkg/targets"
)

// LockedModule is what a lock pins of one helper module version: its h1:
// hash (the build fails unless the downloaded module has it), and the
// version's origin commit and time, which then do not come from the proxy.
type LockedModule struct {
	Sum    string
	Commit string // "" for none
	Time   string // RFC 3339
}

// ModuleKey names a helper's module version: module@version, the key of
// Options.Locked.
func ModuleKey(h targets.Helper) string { return h.Spec().Module + "@" + h.Version }

// helperBuild is what the binaries of one helper share: its spec, and its
// module cache (one download for each module version, which two helpers
// of one module share).
type helperBuild struct {
	h       targets.Helper
	spec    targets.HelperSpec
	modules llb.State
	locked  LockedModule
}

// name is the helper's name in file names and keys.
func (hb *helperBuild) name() string { return hb.h.FileName() }

// binName is the binary's name inside a compile stage's output, and where
// a finished binary is: docker-credential-<helper>.
func (hb *helperBuild) binName() string { return hb.spec.Binary() }

// version is the helper's module version.
func (hb *helperBuild) version() string { return hb.h.Version }

// helperOf is the build of bin's helper.
func (b *builder) helperOf(bin targets.Binary) *helperBuild {
	return b.helpers[bin.Helper.FileName()]
}

// helperBuilds makes the build of each of the list's helpers, downloading
// each module version once.
func (b *builder) helperBuilds(goImg llb.State) {
	downloads := map[string]llb.State{}
	for _, h := range b.list.Helpers {
		key := ModuleKey(h)
		hb := &helperBuild{h: h, spec: h.Spec(), locked: b.opt.Locked[key]}
		mods, ok := downloads[key]
		if !ok {
			mods = b.checkModule(goImg, b.toolSt, b.download(goImg, hb), hb)
			downloads[key] = mods
		}
		hb.modules = mods
		b.helpers[hb.name()] = hb
	}
}
