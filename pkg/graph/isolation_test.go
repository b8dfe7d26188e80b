package graph

import (
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/pkg/targets"
)

// No stage that runs code from a target image can write to what another
// target, a later run or the export reads. Each such stage is checked for
// every writable place it has: cache mounts, and outputs that are read on.
func TestImageCodeIsolation(t *testing.T) {
	l := testList("docker:19.03.12", "gitlab/gitlab-runner:v13.2.1", "other:1")
	l.Targets[1].Name = "runner-cgo"
	l.Targets[1].Cgo = true
	l.Targets[1].Setup = []string{"apt-get update", "apt-get install -y gcc libc6-dev"}
	l.Targets[2].Name = "other-cgo"
	l.Targets[2].Cgo = true
	g := mustBuild(t, l, Options{Platform: amd64})
	d := decode(t, g.Output)

	t.Run("a cgo compile has a build cache of its own", func(t *testing.T) {
		ids := map[string]string{}
		for _, name := range []string{"runner-cgo", "other-cgo"} {
			c := d.exec(t, "compile "+name+" ")
			m := mount(t, c, goBuildCache)
			if m.MountType != pb.MountType_CACHE || !strings.HasPrefix(m.CacheOpt.ID, cgoBuildCacheID+"-") {
				t.Fatalf("%s: build cache %+v, want a private cache mount", name, m)
			}
			if m.CacheOpt.Sharing != pb.CacheSharingOpt_LOCKED {
				t.Errorf("%s: private cache sharing %v, want locked", name, m.CacheOpt.Sharing)
			}
			ids[name] = m.CacheOpt.ID
		}
		if ids["runner-cgo"] == ids["other-cgo"] {
			t.Errorf("two cgo targets share the writable cache %s", ids["runner-cgo"])
		}
		for dg, op := range d.ops {
			ex := op.GetExec()
			if ex == nil {
				continue
			}
			for _, m := range ex.Mounts {
				if m.MountType == pb.MountType_CACHE && sharedCache(m.CacheOpt.ID) && strings.HasSuffix(d.names[dg], "with cgo") {
					t.Errorf("%s mounts the shared build cache", d.names[dg])
				}
			}
		}
	})

	t.Run("the caches follow the toolchain, the image, the setup and the binary", func(t *testing.T) {
		type ids struct{ shared, private string }
		id := func(mut func(*targets.List, *Options)) ids {
			l := testList("gitlab/gitlab-runner:v13.2.1", "docker:19.03.12")
			l.Targets[0].Name = "runner-cgo"
			l.Targets[0].Cgo = true
			opt := Options{Platform: amd64}
			if mut != nil {
				mut(l, &opt)
			}
			d := decode(t, mustBuild(t, l, opt).Output)
			return ids{
				shared:  mount(t, d.exec(t, "compile the helper once"), goBuildCache).CacheOpt.ID,
				private: mount(t, d.exec(t, "compile "+l.Targets[0].Name+" "), goBuildCache).CacheOpt.ID,
			}
		}
		base := id(nil)
		if base != id(nil) {
			t.Fatal("cache ids differ between two builds of one list")
		}
		pin := func(ref string) func(*targets.List, *Options) {
			return func(_ *targets.List, o *Options) {
				o.Images = map[ImageKey]Resolved{{Ref: ref, Platform: "linux/amd64"}: {Digest: digest.FromString("x")}}
			}
		}
		for name, c := range map[string]struct {
			mut                   func(*targets.List, *Options)
			newShared, newPrivate bool
		}{
			"another toolchain image": {func(l *targets.List, _ *Options) {
				l.Go = targets.Image{Ref: "evil/go:1", Full: "docker.io/evil/go:1"}
			}, true, true},
			"another toolchain digest":    {pin("docker.io/library/golang:1.26"), true, true},
			"another target image digest": {pin("docker.io/library/gitlab/gitlab-runner:v13.2.1"), false, true},
			"another setup": {func(l *targets.List, _ *Options) {
				l.Targets[0].Setup = []string{"true"}
			}, false, true},
			"another name": {func(l *targets.List, _ *Options) { l.Targets[0].Name = "other" }, false, true},
		} {
			got := id(c.mut)
			if (got.shared != base.shared) != c.newShared || (got.private != base.private) != c.newPrivate {
				t.Errorf("%s: shared cache %s -> %s (want new: %v), private %s -> %s (want new: %v)",
					name, base.shared, got.shared, c.newShared, base.private, got.private, c.newPrivate)
			}
		}
	})

	t.Run("verify leaves only a verdict, read by its deliver alone and removed there", func(t *testing.T) {
		for _, name := range []string{"docker_19.03.12", "runner-cgo", "other-cgo"} {
			v := d.exec(t, "verify "+name+" ")
			vd := opDigest(d, v)
			readers := 0
			for dg, op := range d.ops {
				for i, in := range op.Inputs {
					if digest.Digest(in.Digest) != vd {
						continue
					}
					if op.GetFile() == nil || !strings.HasPrefix(d.names[dg], "deliver "+name) {
						t.Errorf("%s reads verify %s's output", d.names[dg], name)
						continue
					}
					readers++
					var used []string
					for _, a := range op.GetFile().Actions {
						if a.SecondaryInput == int64(i) || a.Input == int64(i) {
							used = append(used, a.String())
						}
					}
					if len(used) != 1 || !strings.Contains(used[0], `src:"/verdict"`) {
						t.Errorf("deliver %s uses the verify output for %q, want one copy of /verdict", name, used)
					}
					if rm := op.GetFile().Actions[1].GetRm(); rm == nil || rm.Path != "/.llbgen-verdict" {
						t.Errorf("deliver %s keeps the verdict", name)
					}
				}
			}
			if readers != 1 {
				t.Errorf("verify %s's verdict is read by %d deliveries, want its own", name, readers)
			}
			for _, m := range v.GetExec().Mounts {
				if m.MountType == pb.MountType_CACHE {
					t.Errorf("verify %s mounts a cache (%s)", name, m.CacheOpt.ID)
				}
			}
		}
	})

	t.Run("the export copies each binary's own files by path, merging nothing", func(t *testing.T) {
		for dg, op := range d.ops {
			if op.GetMerge() != nil {
				t.Errorf("%s merges trees", d.names[dg])
			}
		}
		var copies []string
		for _, op := range d.ops {
			f := op.GetFile()
			if f == nil {
				continue
			}
			for _, a := range f.Actions {
				if c := a.GetCopy(); c != nil {
					from := d.names[digest.Digest(op.Inputs[a.SecondaryInput].Digest)]
					switch {
					case strings.HasPrefix(d.names[opDigest(d, op)], "deliver "):
						// a verdict, the module's .info (removed again), or a
						// finished binary: a cgo binary's finish stage, or the
						// static compile (no image code runs there)
						verdict := strings.HasPrefix(from, "verify ") && c.Src == "/"+verdictFile && c.Dest == "/.llbgen-verdict"
						info := strings.HasPrefix(from, "download ") && strings.HasSuffix(c.Src, ".info") && c.Dest == "/.llbgen-info"
						if !strings.HasPrefix(from, "finish ") && !strings.HasPrefix(from, "compile the helper once") && !verdict && !info {
							t.Errorf("a delivery copies %s from %q, want a finished binary, a verdict or the .info", c.Src, from)
						}
						continue
					case !strings.HasPrefix(from, "deliver ") && from != "write "+SumsFile:
						t.Errorf("copies %s from %q, want a deliver stage", c.Src, from)
					}
					copies = append(copies, c.Src)
				}
			}
		}
		for _, bin := range l.Binaries() {
			for _, f := range []string{"/" + bin.FileName(), "/" + bin.FileName() + BuildInfoSuffix} {
				n := 0
				for _, c := range copies {
					if c == f {
						n++
					}
				}
				if n != 1 {
					t.Errorf("%s copied %d times, want once", f, n)
				}
			}
		}
	})
}

// opDigest is the digest of a decoded op.
func opDigest(d *decoded, op *pb.Op) digest.Digest {
	for dg, o := range d.ops {
		if o == op {
			return dg
		}
	}
	return ""
}

// Every exec that mounts the shared build cache runs in the go image, and
// runs nothing of a target image's: cgo off (no C compiler), VCS stamping
// off (no git, hg, ...), go.work ignored, no user Go config, the toolchain
// pinned, no network. Static binaries are compiled there, not in their
// images.
func TestSharedCacheOnlyWhereNoImageCodeRuns(t *testing.T) {
	l := testList("docker:19.03.12", "gitlab/gitlab-runner:v13.2.1")
	l.Targets[1].Cgo = true
	l.Targets[1].Setup = []string{"apt-get update"}
	g := mustBuild(t, l, Options{Platform: amd64, CanRun: func(p ocispecs.Platform) bool { return true }})
	d := decode(t, g.Output)
	shared := 0
	for dg, op := range d.ops {
		ex := op.GetExec()
		if ex == nil {
			continue
		}
		var cache *pb.Mount
		for _, m := range ex.Mounts {
			if m.MountType == pb.MountType_CACHE && sharedCache(m.CacheOpt.ID) {
				cache = m
			}
		}
		if cache == nil {
			continue
		}
		shared++
		name := d.names[dg]
		if root := d.input(op, mount(t, op, "/")); imageRef(root) != "docker.io/library/golang:1.26" {
			t.Errorf("%s: mounts the shared build cache in %q, want the go image", name, imageRef(root))
		}
		if slices.Contains(ex.Meta.Args, "gobuild") {
			env := envOf(op)
			for k, want := range map[string]string{"CGO_ENABLED": "0", "GOWORK": "off", "GOENV": "off", "GOTOOLCHAIN": "local", "GOPROXY": "off"} {
				if env[k] != want {
					t.Errorf("%s: compiles with the shared build cache and %s=%q, want %q", name, k, env[k], want)
				}
			}
			if !slices.Contains(ex.Meta.Args, "-buildvcs=false") {
				t.Errorf("%s: compiles with the shared build cache and VCS stamping on: %q", name, ex.Meta.Args)
			}
			if ex.Meta.Args[0] != toolBin || !slices.Contains(ex.Meta.Args, goBin) {
				t.Errorf("%s: runs %q, want the mounted stage tool wrapping the mounted go", name, ex.Meta.Args)
			}
		}
		if ex.Network != pb.NetMode_NONE {
			t.Errorf("%s: has network", name)
		}
	}
	if shared != 2 {
		t.Errorf("%d execs mount the shared cache, want the stage tool and the static compile", shared)
	}
}

// sharedCache says whether id names a toolchain's shared build cache.
func sharedCache(id string) bool { return strings.HasPrefix(id, goBuildCacheID+"-") }

// A cgo compile, the one compile rooted in a target image, runs nothing of
// the image but its C compiler: no VCS stamping (a /.git there would run
// the image's git), no go.work, no user Go config, the toolchain pinned, no
// module proxy, no network.
func TestCgoCompileRunsOnlyTheImagesCompiler(t *testing.T) {
	l := testList("gitlab/gitlab-runner:v13.2.1")
	l.Targets[0].Cgo = true
	d := decode(t, mustBuild(t, l, Options{Platform: amd64}).Output)
	op := d.exec(t, "compile "+l.Targets[0].Name+" ")
	if got := imageRef(d.input(op, mount(t, op, "/"))); got != l.Targets[0].Image.Full {
		t.Fatalf("the cgo compile is rooted in %q, want its image", got)
	}
	env := envOf(op)
	for k, want := range map[string]string{"CGO_ENABLED": "1", "GOWORK": "off", "GOENV": "off", "GOTOOLCHAIN": "local", "GOPROXY": "off"} {
		if env[k] != want {
			t.Errorf("cgo compile: %s=%q, want %q", k, env[k], want)
		}
	}
	if ex := op.GetExec(); !slices.Contains(ex.Meta.Args, "-buildvcs=false") || ex.Network != pb.NetMode_NONE {
		t.Errorf("cgo compile: args %q network %v, want -buildvcs=false and none", ex.Meta.Args, ex.Network)
	}
}
