package graph

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	// goRoot is where the toolchain is mounted, in the go image and in every
	// target image alike.
	goRoot = "/usr/local/go"
	goBin  = goRoot + "/bin/go"
	// goBuildCache is where a Go build cache is mounted: the one the trusted
	// stages of a toolchain share, or a cgo compile's own.
	goBuildCache = "/llbgen/gocache"
	// goBuildCacheID starts the id of a toolchain's shared build cache,
	// cgoBuildCacheID that of a cgo compile's own.
	goBuildCacheID  = "llbgen-go-build-cache"
	cgoBuildCacheID = "llbgen-cgo-build-cache"
)

// goEnv is the environment every go invocation gets: nothing read from the
// image or a user config file, the toolchain as mounted, no auto-upgrade.
func (b *builder) goEnv() llb.StateOption {
	return func(s llb.State) llb.State {
		return s.
			AddEnv("PATH", goRoot+"/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").
			AddEnv("HOME", "/tmp").
			AddEnv("GOENV", "off").
			AddEnv("GOTOOLCHAIN", "local").
			// A compile's root may be a target image: a /go.work there
			// must not choose what is built.
			AddEnv("GOWORK", "off").
			AddEnv("GOPATH", "/tmp/gopath").
			AddEnv("GOCACHE", goBuildCache).
			User("0:0").
			Dir("/")
	}
}

// withToolchain mounts the go image's toolchain read-only, from a snapshot
// of its own (the image and one empty directory): no exec may mount one
// snapshot twice, and the go image is also the root of the static and stage
// tool compiles (and of a target's compile when the target is the go
// image). When such an exec fails, BuildKit's gateway (v0.34.2,
// llbBridgeForwarder.registerResultIDsLocked) releases the twice-mounted
// snapshot twice and returns "releasing already released reference"
// instead of the exec's error.
// p is the go image's platform; one snapshot serves every exec of it.
func (b *builder) withToolchain(goImg llb.State, p ocispecs.Platform) llb.RunOption {
	key := platforms.Format(p)
	own, ok := b.toolchains[key]
	if !ok {
		// Without parents: a go image with no /usr/local/go fails here, at
		// the go: line, rather than in the first stage that mounts it.
		own = goImg.File(llb.Mkdir(toolchainMark, 0o755), llb.WithCustomName("the go image's toolchain at "+goRoot+" (fails when the image has none)"),
			b.mark(Stage{Kind: KindToolchain, Platform: key, Image: b.list.Go.Ref}, b.list.GoLines))
		b.toolchains[key] = own
	}
	return llb.AddMount(goRoot, own, llb.SourcePath(goRoot), llb.Readonly)
}

// toolchainMark is the directory that makes the toolchain's snapshot its
// own; it is made in the toolchain's directory, so only a go image that has
// one gets it.
const toolchainMark = goRoot + "/.llbgen-toolchain"

// withBuildCache mounts the one build cache the trusted stages share: those
// that run only the toolchain, in the go image (the static compiles, the
// stage tool compile), with cgo and VCS stamping off and go.work files
// ignored (goBuild, goEnv). They hold it locked, one at a time. No stage that runs code from a target image ever mounts it: Go trusts
// its cache entries, so a writer could change what every static binary
// links, now and in later runs.
//
// Its id names the toolchain image (by digest where it was resolved): the
// list chooses that image, and its go writes the cache, so a list with
// another toolchain never writes what this one's builds read.
func (b *builder) withBuildCache(sharing llb.CacheMountSharingMode) llb.RunOption {
	return llb.AddMount(goBuildCache, llb.Scratch(), llb.AsPersistentCacheDir(b.sharedCacheID, sharing))
}

// cacheKey is a short digest of parts, each length-prefixed.
func cacheKey(parts ...string) string {
	h := sha256.New()
	for _, part := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(part), part)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// withPrivateBuildCache mounts a build cache of one binary's own, for a
// stage that runs image code (a cgo compile runs the image's C compiler):
// keyed by id, which names the binary, its pinned image, platform and
// setup, so no other target and no other image ever reads what it wrote.
func withPrivateBuildCache(id string) llb.RunOption {
	return llb.AddMount(goBuildCache, llb.Scratch(), llb.AsPersistentCacheDir(cgoBuildCacheID+"-"+id, llb.CacheMountLocked))
}

func withTmp() llb.RunOption {
	return llb.AddMount("/tmp", llb.Scratch(), llb.Tmpfs())
}
