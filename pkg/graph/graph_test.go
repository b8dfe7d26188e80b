package graph

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"

	"github.com/llbgen/llbgen/pkg/targets"
)

func testList(images ...string) *targets.List {
	l := &targets.List{
		File:    "targets.yaml",
		Helpers: []targets.Helper{{Version: "v0.12.0"}},
		Go:      targets.Image{Ref: "golang:1.26", Full: "docker.io/library/golang:1.26"},
	}
	for _, img := range images {
		name, err := targets.DeriveName(img)
		if err != nil {
			panic(err)
		}
		l.Targets = append(l.Targets, targets.Target{
			Image: targets.Image{Ref: img, Full: "docker.io/library/" + img},
			Name:  name,
		})
	}
	return l
}

// decoded is a marshalled definition, op by op, with the custom names
// BuildKit shows in its progress.
type decoded struct {
	ops   map[digest.Digest]*pb.Op
	names map[digest.Digest]string
}

func decode(t *testing.T, st llb.State) *decoded {
	t.Helper()
	def, err := st.Marshal(context.Background(), llb.Platform(DefaultPlatform()))
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	d := &decoded{ops: map[digest.Digest]*pb.Op{}, names: map[digest.Digest]string{}}
	for _, dt := range def.Def {
		var op pb.Op
		if err := op.Unmarshal(dt); err != nil {
			t.Fatalf("unmarshal op: %v", err)
		}
		dg := digest.FromBytes(dt)
		d.ops[dg] = &op
		d.names[dg] = def.Metadata[dg].Description["llb.customname"]
	}
	return d
}

// exec returns the exec op whose custom name starts with prefix.
func (d *decoded) exec(t *testing.T, prefix string) *pb.Op {
	t.Helper()
	var found []*pb.Op
	for dg, op := range d.ops {
		if op.GetExec() != nil && strings.HasPrefix(d.names[dg], prefix) {
			found = append(found, op)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one exec named %q..., found %d", prefix, len(found))
	}
	return found[0]
}

// file returns the file op whose custom name starts with prefix.
func (d *decoded) file(t *testing.T, prefix string) *pb.Op {
	t.Helper()
	var found []*pb.Op
	for dg, op := range d.ops {
		if op.GetFile() != nil && strings.HasPrefix(d.names[dg], prefix) {
			found = append(found, op)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one file op named %q..., found %d", prefix, len(found))
	}
	return found[0]
}

// nameOf is op's custom name.
func (d *decoded) nameOf(op *pb.Op) string {
	for dg, o := range d.ops {
		if o == op {
			return d.names[dg]
		}
	}
	return ""
}

// input returns the op feeding mount m of op.
func (d *decoded) input(op *pb.Op, m *pb.Mount) *pb.Op {
	if m.Input < 0 {
		return nil
	}
	return d.ops[digest.Digest(op.Inputs[m.Input].Digest)]
}

// imageUnder is op if it pulls an image, or the image a file op's first
// input pulls (the toolchain's snapshot of its own, see withToolchain).
func (d *decoded) imageUnder(op *pb.Op) *pb.Op {
	if op != nil && op.GetFile() != nil && len(op.Inputs) > 0 {
		return d.ops[digest.Digest(op.Inputs[0].Digest)]
	}
	return op
}

func mount(t *testing.T, op *pb.Op, dest string) *pb.Mount {
	t.Helper()
	for _, m := range op.GetExec().Mounts {
		if m.Dest == dest {
			return m
		}
	}
	t.Fatalf("no mount at %s", dest)
	return nil
}

func envOf(op *pb.Op) map[string]string {
	env := map[string]string{}
	for _, kv := range op.GetExec().Meta.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

func imageRef(op *pb.Op) string {
	if op == nil || op.GetSource() == nil {
		return ""
	}
	return strings.TrimPrefix(op.GetSource().Identifier, "docker-image://")
}

func mustBuild(t *testing.T, l *targets.List, opt Options) *Graph {
	t.Helper()
	g, err := Define(l, opt)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// Every static binary of a platform is one compile, in the go image, with
// the one build cache the trusted stages share, locked: the targets' images
// take no part in it, so each target's image is used only by its check.
func TestStaticCompile(t *testing.T) {
	l := testList("docker:19.03.12", "alpine:3.12")
	d := decode(t, mustBuild(t, l, Options{}).Output)
	op := d.exec(t, "compile the helper once for linux/amd64, for every static binary")
	for dg, o := range d.ops {
		if a := o.GetExec().GetMeta().GetArgs(); len(a) > 1 && a[1] == "gobuild" && o != op {
			t.Errorf("another compile: %s", d.names[dg])
		}
	}
	ex := op.GetExec()
	args := ex.Meta.Args
	if args[0] != toolBin || args[1] != "gobuild" {
		t.Errorf("compile must run go through the static wrapper, no shell: args %q", args)
	}
	args = args[slices.Index(args, "--")+1:]
	if args[0] != "/usr/local/go/bin/go" || args[3] != "build" {
		t.Errorf("the wrapper must run go build: %q", args)
	}
	for _, want := range []string{"-trimpath", "-buildvcs=false", "./cli/docker-credential-ecr-login"} {
		if !slices.Contains(args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	ld := args[slices.Index(args, "-ldflags")+1]
	if want := "-s -buildid= -X github.com/awslabs/amazon-ecr-credential-helper/ecr-login/version.Version=0.12.0"; ld != want {
		t.Errorf("ldflags %q, want %q", ld, want)
	}
	if ex.Network != pb.NetMode_NONE {
		t.Errorf("network %v, want none", ex.Network)
	}
	if ex.Meta.User != "0:0" || ex.Meta.Cwd != "/" {
		t.Errorf("user %q cwd %q, want 0:0 and /", ex.Meta.User, ex.Meta.Cwd)
	}
	env := envOf(op)
	for k, v := range map[string]string{"CGO_ENABLED": "0", "GOPROXY": "off", "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local", "GOMODCACHE": modCache} {
		if env[k] != v {
			t.Errorf("env %s=%q, want %q", k, env[k], v)
		}
	}
	if got := imageRef(d.input(op, mount(t, op, "/"))); got != l.Go.Full {
		t.Errorf("root is %q, want the go image %q", got, l.Go.Full)
	}
	tc := mount(t, op, "/usr/local/go")
	if !tc.Readonly || tc.Selector != "/usr/local/go" || imageRef(d.imageUnder(d.input(op, tc))) != l.Go.Full {
		t.Errorf("toolchain mount %+v: want read-only /usr/local/go of %s", tc, l.Go.Full)
	}
	mods := mount(t, op, modCache)
	if !mods.Readonly || d.input(op, mods).GetExec() == nil {
		t.Errorf("module mount %+v: want read-only output of the download stage", mods)
	}
	cache := mount(t, op, goBuildCache)
	if cache.MountType != pb.MountType_CACHE || !sharedCache(cache.CacheOpt.ID) || cache.CacheOpt.Sharing != pb.CacheSharingOpt_LOCKED {
		t.Errorf("build cache mount %+v: want the toolchain's one shared cache, locked", cache)
	}
	if tmp := mount(t, op, "/tmp"); tmp.MountType != pb.MountType_TMPFS {
		t.Errorf("/tmp is %v, want tmpfs", tmp.MountType)
	}
	if out := mount(t, op, binDir); out.Readonly || out.Output < 0 {
		t.Errorf("binary mount %+v: want a writable output", out)
	}
	for _, tg := range l.Targets {
		v := d.exec(t, "verify "+tg.Name+" ")
		if d.input(v, mount(t, v, verifyIn)) != op {
			t.Errorf("%s's check does not run the static compile's binary", tg.Name)
		}
	}
}

// The static targets share one build cache; no other cache exists.
func TestOneBuildCacheForAllTargets(t *testing.T) {
	d := decode(t, mustBuild(t, testList("a:1", "b:2", "c:3"), Options{}).Output)
	ids := map[string]bool{}
	for _, op := range d.ops {
		if op.GetExec() == nil {
			continue
		}
		for _, m := range op.GetExec().Mounts {
			if m.MountType == pb.MountType_CACHE {
				ids[m.CacheOpt.ID] = true
			}
		}
	}
	if len(ids) != 1 {
		t.Errorf("cache ids %v, want exactly one shared build cache", ids)
	}
}

func TestDownloadStage(t *testing.T) {
	env := map[string]string{"GOPROXY": "https://proxy.example", "GOPRIVATE": "corp.example", "GOSUMDB": "off", "HOME": "/x"}
	d := decode(t, mustBuild(t, testList("docker:19.03.12"), Options{Env: env}).Output)
	for _, name := range []string{"download github.com/", "download the dependencies of "} {
		op := d.exec(t, name)
		ex := op.GetExec()
		if ex.Network == pb.NetMode_NONE {
			t.Errorf("%s: network is none, downloads need it", name)
		}
		if ex.Meta.Args[0] != "/usr/local/go/bin/go" {
			t.Errorf("%s: args %q", name, ex.Meta.Args)
		}
		if got := imageRef(d.input(op, mount(t, op, "/"))); got != "docker.io/library/golang:1.26" {
			t.Errorf("%s runs in %q, want the go image", name, got)
		}
		e := envOf(op)
		if e["GOPROXY"] != "https://proxy.example" || e["GOPRIVATE"] != "corp.example" {
			t.Errorf("%s: pass-through env missing: %v", name, e)
		}
		if _, ok := e["GOSUMDB"]; ok {
			t.Errorf("%s: GOSUMDB must not be passed (the checksum database stays on): %v", name, e)
		}
		if e["HOME"] == "/x" {
			t.Errorf("%s: only the pass-through variables may come from llbgen's environment", name)
		}
	}
	first := d.exec(t, "download github.com/")
	if want := "github.com/awslabs/amazon-ecr-credential-helper/ecr-login@v0.12.0"; !slices.Contains(first.GetExec().Meta.Args, want) {
		t.Errorf("download args %q lack %s", first.GetExec().Meta.Args, want)
	}
}

func TestVerifyStage(t *testing.T) {
	l := testList("docker:19.03.12")
	d := decode(t, mustBuild(t, l, Options{}).Output)
	op := d.exec(t, "verify docker_19.03.12 ")
	ex := op.GetExec()
	if ex.Meta.Args[0] != toolBin {
		t.Errorf("verify must run the static stage tool, no shell: %q", ex.Meta.Args)
	}
	joined := strings.Join(ex.Meta.Args, " ")
	for _, want := range []string{"-target docker_19.03.12", "-want 0.12.0", "-out /llbgen/out/verdict"} {
		if !strings.Contains(joined, want) {
			t.Errorf("verify args %q lack %q", joined, want)
		}
	}
	if ex.Network != pb.NetMode_NONE || ex.Meta.User != "0:0" || ex.Meta.Cwd != "/" {
		t.Errorf("verify: network %v user %q cwd %q; want none, 0:0, /", ex.Network, ex.Meta.User, ex.Meta.Cwd)
	}
	if got := imageRef(d.input(op, mount(t, op, "/"))); got != "docker.io/library/docker:19.03.12" {
		t.Errorf("verify runs in %q, want the target image", got)
	}
	if in := mount(t, op, verifyIn); !in.Readonly || !strings.HasPrefix(d.nameOf(d.input(op, in)), "compile the helper once") {
		t.Errorf("verify input %+v: want the static compile's binary, read-only", in)
	}

	// A static compile finishes its binary itself: no image code runs there.
	for dg, o := range d.ops {
		if o.GetExec() != nil && strings.HasPrefix(d.names[dg], "finish ") {
			t.Errorf("a static binary has a finish stage: %s", d.names[dg])
		}
	}
	if args := d.exec(t, "compile the helper once").GetExec().Meta.Args; !slices.Contains(args, "-buildinfo") {
		t.Errorf("the static compile does not write the build information: %q", args)
	}

	// deliver: no process; the verdict copied in and removed, then the
	// finished files under the binary's name
	del := d.file(t, "deliver docker_19.03.12")
	var got []string
	for _, a := range del.GetFile().Actions {
		switch {
		case a.GetCopy() != nil:
			c := a.GetCopy()
			got = append(got, fmt.Sprintf("copy %s:%s %s", d.nameOf(d.ops[digest.Digest(del.Inputs[a.SecondaryInput].Digest)]), c.Src, c.Dest))
		case a.GetRm() != nil:
			got = append(got, "rm "+a.GetRm().Path)
		default:
			got = append(got, a.String())
		}
	}
	want := []string{
		"copy verify docker_19.03.12 in docker:19.03.12:/verdict /.llbgen-verdict",
		"rm /.llbgen-verdict",
		"copy download the dependencies of github.com/awslabs/amazon-ecr-credential-helper/ecr-login@v0.12.0:/cache/download/github.com/awslabs/amazon-ecr-credential-helper/ecr-login/@v/v0.12.0.info /.llbgen-info",
		"rm /.llbgen-info",
		"copy compile the helper once for linux/amd64, for every static binary:/docker-credential-ecr-login /docker-credential-ecr-login-docker_19.03.12",
		"copy compile the helper once for linux/amd64, for every static binary:/docker-credential-ecr-login.buildinfo /docker-credential-ecr-login-docker_19.03.12.buildinfo",
	}
	if !slices.Equal(got, want) {
		t.Errorf("deliver's actions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestNoShellAnywhere(t *testing.T) {
	d := decode(t, mustBuild(t, testList("docker:19.03.12", "alpine:3"), Options{}).Output)
	for dg, op := range d.ops {
		if ex := op.GetExec(); ex != nil {
			if a := ex.Meta.Args; strings.HasSuffix(a[0], "sh") || slices.Contains(a, "-c") {
				t.Errorf("%s runs a shell: %q", d.names[dg], a)
			}
		}
	}
}

// The same list gives the same bytes, its source map too.
func TestDeterministic(t *testing.T) {
	env := map[string]string{"GOPROXY": "a", "GONOSUMDB": "b", "GOPRIVATE": "c", "GOINSECURE": "d"}
	for name, list := range map[string]func() *targets.List{
		"flags":     func() *targets.List { return testList("docker:19.03.12", "b:1", "c:2") },
		"from file": func() *targets.List { return stageList(t) },
	} {
		t.Run(name, func(t *testing.T) {
			var first []byte
			for i := range 100 {
				opt := stageOptions()
				opt.Env = env
				def, err := Definition(context.Background(), mustBuild(t, list(), opt).Output, amd64)
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					first = def
				} else if !bytes.Equal(first, def) {
					t.Fatalf("marshal %d differs from the first", i)
				}
			}
		})
	}
}

func TestEmptyList(t *testing.T) {
	if _, err := Define(testList(), Options{}); err == nil {
		t.Fatal("want an error for a list with no targets")
	}
}

// A resolved image is pinned to its digest, and its config never reaches a
// stage: no USER, WORKDIR or ENV of the image changes what is built.
func TestResolvedImagesArePinnedAndConfigApplied(t *testing.T) {
	l := testList("docker:19.03.12")
	const dg = "sha256:7a218ab8f8e8a8fd159156fd98294d080253a5c60951574d072185b4a0d6660c"
	cfg := `{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/image/bin","GOSUMDB=off","GOFLAGS=-tags=evil","CGO_ENABLED=1"],"User":"nobody","WorkingDir":"/no/such/dir"}}`
	g := mustBuild(t, l, Options{Images: map[ImageKey]Resolved{
		{Ref: "docker.io/library/docker:19.03.12", Platform: platforms.Format(DefaultPlatform())}: {Digest: dg, Config: []byte(cfg)},
	}})
	d := decode(t, g.Output)
	l.Go.Full = "docker.io/library/docker:19.03.12" // the same image as toolchain, so download sees it too
	g = mustBuild(t, l, Options{Images: map[ImageKey]Resolved{
		{Ref: "docker.io/library/docker:19.03.12", Platform: platforms.Format(DefaultPlatform())}: {Digest: dg, Config: []byte(cfg)},
	}})
	d = decode(t, g.Output)
	for _, name := range []string{"download github.com/", "compile the helper once", "verify docker_19.03.12 "} {
		op := d.exec(t, name)
		if got := imageRef(d.input(op, mount(t, op, "/"))); got != "docker.io/library/docker@"+dg {
			t.Errorf("%s: root %q, want the image pinned by digest", name, got)
		}
		ex := op.GetExec()
		if ex.Meta.User != "0:0" || ex.Meta.Cwd != "/" {
			t.Errorf("%s: user %q cwd %q: the image's USER/WORKDIR leaked", name, ex.Meta.User, ex.Meta.Cwd)
		}
		env := envOf(op)
		for _, k := range []string{"GOSUMDB", "GOFLAGS", "PATH", "CGO_ENABLED"} {
			if v, ok := env[k]; ok && (v == "off" || v == "-tags=evil" || v == "/image/bin" || v == "1") {
				t.Errorf("%s: the image's %s=%s leaked into the stage", name, k, v)
			}
		}
	}
}

// A lock's module hash adds a check between download and compile; a
// SOURCE_DATE_EPOCH reaches the wrapper that dates the binary.
func TestModuleSumAndEpoch(t *testing.T) {
	d := decode(t, mustBuild(t, testList("docker:19.03.12"), Options{Locked: ecrLocked(LockedModule{Sum: "h1:abc="}), SourceDateEpoch: ptr(int64(1700000000))}).Output)
	check := d.exec(t, "check the helper module against the lock")
	if a := strings.Join(check.GetExec().Meta.Args, " "); !strings.Contains(a, "modsum") || !strings.Contains(a, "-want h1:abc=") {
		t.Errorf("check args %q", a)
	}
	if check.GetExec().Network != pb.NetMode_NONE {
		t.Error("the check needs no network")
	}
	for _, name := range []string{"compile the helper once"} {
		op := d.exec(t, name)
		mods := mount(t, op, modCache)
		if !strings.HasPrefix(d.names[digest.Digest(op.Inputs[mods.Input].Digest)], "check the helper module") {
			t.Errorf("%s does not take its modules from the check", name)
		}
		if a := strings.Join(op.GetExec().Meta.Args, " "); !strings.Contains(a, "-epoch 1700000000") {
			t.Errorf("%s args %q lack the epoch", name, a)
		}
	}
	plain := decode(t, mustBuild(t, testList("docker:19.03.12"), Options{}).Output)
	// The delivery's inputs change with its files' time: BuildKit matches a
	// file op's inputs by content, times left out, so otherwise a delivery
	// of the same bytes from a run dated otherwise would come from the
	// cache. A time the run fixes (epoch, else a lock's time) is set by the
	// copies; else the module's .info, which dates the files, is an input.
	lockedAt := decode(t, mustBuild(t, testList("docker:19.03.12"), Options{Locked: ecrLocked(LockedModule{Sum: "h1:abc=", Time: "2023-11-14T22:13:20Z"})}).Output)
	lockedNoTime := decode(t, mustBuild(t, testList("docker:19.03.12"), Options{Locked: ecrLocked(LockedModule{Sum: "h1:abc="})}).Output)
	for _, c := range []struct {
		name string
		d    *decoded
		want int64
		info bool // the .info is an input
	}{
		{"epoch", d, 1700000000 * 1e9, false},
		{"lock's time", lockedAt, 1700000000 * 1e9, false},
		{"lock without a time", lockedNoTime, -1, true},
		{"neither", plain, -1, true},
	} {
		info := false
		for _, a := range c.d.file(t, "deliver docker_19.03.12").GetFile().Actions {
			cp := a.GetCopy()
			switch {
			case cp == nil:
			case cp.Dest == "/.llbgen-info":
				info = strings.HasSuffix(cp.Src, "/@v/v0.12.0.info")
			case cp.Src != "/verdict" && cp.Timestamp != c.want:
				t.Errorf("%s: deliver copies %s dated %d, want %d", c.name, cp.Src, cp.Timestamp, c.want)
			}
		}
		if info != c.info {
			t.Errorf("%s: the .info is an input of the delivery: %v, want %v", c.name, info, c.info)
		}
	}
	for dg, op := range plain.ops {
		if op.GetExec() != nil && strings.HasPrefix(plain.names[dg], "check the helper module") {
			t.Error("a check without a lock")
		}
	}
}

// ecrLocked is a lock's pins of ecr-login v0.12.0, testList's helper.
func ecrLocked(l LockedModule) map[string]LockedModule {
	return map[string]LockedModule{targets.HelperModule + "@v0.12.0": l}
}
