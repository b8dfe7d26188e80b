package plan

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/platforms"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/lock"
	"github.com/llbgen/llbgen/pkg/targets"
)

var (
	amd64 = ocispecs.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = ocispecs.Platform{OS: "linux", Architecture: "arm64"}
)

func parse(t *testing.T, src string) *targets.List {
	t.Helper()
	list, err := targets.Parse("targets.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func key(ref, platform string) graph.ImageKey { return graph.ImageKey{Ref: ref, Platform: platform} }

const (
	goFull   = "docker.io/library/golang:1.26"
	muslFull = "docker.io/library/docker:19.03.12"
)

// threeTargets has a good target, one whose image is missing and a cgo
// target for arm64.
const threeTargets = `helper: {version: v0.12.0}
go: golang:1.26
targets:
  - image: docker:19.03.12
  - image: nope/missing:1
  - image: docker:19.03.12
    name: pi
    cgo: true
    platforms: [linux/arm64]
`

// goodDaemon has the images of threeTargets but the missing one, with
// toolchains where they should be, and runs amd64 only.
func goodDaemon() *fakeDaemon {
	return &fakeDaemon{images: map[graph.ImageKey]fakeImage{
		key(goFull, "linux/amd64"):   goImage("linux/amd64"),
		key(goFull, "linux/arm64"):   goImage("linux/arm64"),
		key(muslFull, "linux/amd64"): {},
		key(muslFull, "linux/arm64"): {},
	}}
}

func daemonFacts(d *fakeDaemon, runs ...ocispecs.Platform) Daemon {
	return Daemon{Name: "the daemon at unix:///x", Platform: amd64, Resolver: d,
		CanRun: func(p ocispecs.Platform) bool { return platforms.Any(runs...).Match(p) }}
}

// llbgen build: a binary that cannot be built is refused alone, with its
// cause; the others are built from pinned images.
func TestMakeRefusesBinariesOneByOne(t *testing.T) {
	d := goodDaemon()
	p, err := Make(context.Background(), Input{List: parse(t, threeTargets)}, daemonFacts(d, amd64))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"missing_1": "image docker.io/nope/missing:1 not found or not authorised: docker.io/nope/missing:1: not found",
		"pi":        "a cgo target compiles on its own platform, and the daemon cannot run linux/arm64 (no emulator); give it QEMU user emulation, or build linux/arm64 without cgo",
	}
	if len(p.Refused) != len(want) {
		t.Errorf("refused %v", p.Refused)
	}
	for name, cause := range want {
		if got := p.Refused[name].Cause; got != cause {
			t.Errorf("%s: cause %q\nwant %q", name, got, cause)
		}
	}
	if pos := p.Refused["missing_1"].Pos; pos.Line != 5 {
		t.Errorf("the missing image's refusal points at %v, want its line 5", pos)
	}
	b := p.Buildable()
	if b == nil || len(b.Targets) != 1 || b.Targets[0].Name != "docker_19.03.12" {
		t.Fatalf("buildable %+v", b)
	}
	if got, want := p.Digest(b.Binaries()[0]), imageDigest(key(muslFull, "linux/amd64")); got != want {
		t.Errorf("digest %s, want %s", got, want)
	}
	if platforms.Format(p.Graph.Platform) != "linux/amd64" || p.Graph.CanRun == nil || p.Graph.Images[key(goFull, "linux/amd64")].Digest == "" {
		t.Errorf("graph options %+v", p.Graph)
	}
	// The toolchain was checked on the daemon's platform only: the cgo
	// target that needs arm64 is refused.
	if len(d.solved) != 1 || !strings.HasPrefix(d.solved[0], "docker-image://"+goFull[:len(goFull)-5]+"@sha256:") || !strings.HasSuffix(d.solved[0], " linux/amd64") {
		t.Errorf("solved %q, want the pinned go image on linux/amd64", d.solved)
	}
}

// The frontend and llbgen lock: the first refusal, in list order, fails
// the run; it is not bad input.
func TestMakeAllOrNothing(t *testing.T) {
	for _, in := range []Input{{AllOrNothing: true}, {Locking: true}} {
		in.List = parse(t, threeTargets)
		_, err := Make(context.Background(), in, daemonFacts(goodDaemon(), amd64))
		var e *Error
		if !errors.As(err, &e) || e.BadInput {
			t.Fatalf("%+v: got %#v", in, err)
		}
		want := "target missing_1 (linux/amd64): image docker.io/nope/missing:1 not found or not authorised: docker.io/nope/missing:1: not found"
		if err.Error() != want {
			t.Errorf("got %q\nwant %q", err, want)
		}
		if len(e.Lines) != 1 || e.Lines[0].Line != 5 {
			t.Errorf("lines %v, want the image's", e.Lines)
		}
	}
	// Without the missing image, a lock pins the cgo target's images too,
	// though this daemon cannot run arm64; a build is refused.
	list := parse(t, strings.Replace(threeTargets, "  - image: nope/missing:1\n", "", 1))
	if _, err := Make(context.Background(), Input{List: list, Locking: true}, daemonFacts(goodDaemon(), amd64)); err != nil {
		t.Errorf("locking: %v", err)
	}
	_, err := Make(context.Background(), Input{List: list, AllOrNothing: true}, daemonFacts(goodDaemon(), amd64))
	if err == nil || !strings.HasPrefix(err.Error(), "target pi (linux/arm64): a cgo target compiles on its own platform, and the daemon cannot run linux/arm64") {
		t.Errorf("all or nothing: %v", err)
	}
}

// Without its go image, nothing can be built: every binary is refused,
// or the run fails, naming the toolchain image.
func TestMakeGoImageMissing(t *testing.T) {
	d := goodDaemon()
	delete(d.images, key(goFull, "linux/amd64"))
	p, err := Make(context.Background(), Input{List: parse(t, threeTargets)}, daemonFacts(d, amd64))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range p.List.Binaries() {
		if c := p.Refused[b.Name].Cause; c != "toolchain image golang:1.26 not found or not authorised: docker.io/library/golang:1.26: not found" {
			t.Errorf("%s: %q", b.Name, c)
		}
	}
	if p.Buildable() != nil || len(d.solved) != 0 {
		t.Errorf("something to build, or solved: %v", d.solved)
	}
	_, err = Make(context.Background(), Input{List: parse(t, threeTargets), AllOrNothing: true}, daemonFacts(d, amd64))
	if err == nil || err.Error() != "toolchain image golang:1.26 not found or not authorised: docker.io/library/golang:1.26: not found" {
		t.Errorf("all or nothing: %v", err)
	}
}

// The pipe: no daemon, nothing resolved; the lock's platform, or the
// default one.
func TestMakeWithoutDaemon(t *testing.T) {
	list := parse(t, threeTargets)
	p, err := Make(context.Background(), Input{List: list}, Daemon{})
	if err != nil {
		t.Fatal(err)
	}
	if platforms.Format(p.Graph.Platform) != platforms.Format(graph.DefaultPlatform()) || p.Graph.Images != nil || p.Graph.CanRun != nil || len(p.Refused) != 0 {
		t.Errorf("plan %+v", p)
	}
	lk := lockFor(t, list, arm64)
	p, err = Make(context.Background(), Input{List: list, Lock: lk, LockPath: "targets.yaml.lock"}, Daemon{})
	if err != nil {
		t.Fatal(err)
	}
	if platforms.Format(p.Graph.Platform) != "linux/arm64" || p.Graph.Locked[lk.Helper.Module+"@"+lk.Helper.Version].Sum != lk.Helper.Sum || len(p.Graph.Images) != lk.Len() {
		t.Errorf("locked plan %+v", p.Graph)
	}
}

// lockFor pins every image of list on platform.
func lockFor(t *testing.T, list *targets.List, platform ocispecs.Platform) *lock.File {
	t.Helper()
	f := &lock.File{
		Helper:   lock.Helper{Module: targets.HelperModule, Version: list.Helpers[0].Version, Sum: "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
		Platform: platforms.Format(platform),
	}
	for _, k := range graph.Images(list, platform) {
		f.Set(k, imageDigest(k).String())
	}
	if err := f.Check("targets.yaml.lock", list); err != nil {
		t.Fatal(err)
	}
	return f
}

// A lock pins the images: nothing is resolved, the toolchain is still
// checked, from the locked digest. A lock for another platform than the
// daemon's fails the run.
func TestMakeLocked(t *testing.T) {
	list := parse(t, "helper: {version: v0.12.0}\ngo: golang:1.26\ntargets:\n  - image: docker:19.03.12\n")
	d := goodDaemon()
	in := Input{List: list, Lock: lockFor(t, list, amd64), LockPath: "targets.yaml.lock"}
	p, err := Make(context.Background(), in, daemonFacts(d, amd64))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.resolved) != 0 || len(d.solved) != 1 || len(p.Graph.Locked) == 0 {
		t.Errorf("resolved %v, solved %v, graph %+v", d.resolved, d.solved, p.Graph)
	}

	in.Lock = lockFor(t, list, arm64)
	_, err = Make(context.Background(), in, daemonFacts(d, amd64))
	var e *Error
	if !errors.As(err, &e) || e.BadInput || err.Error() != "targets.yaml.lock is for linux/arm64, the daemon at unix:///x builds for linux/amd64; run llbgen lock against it" {
		t.Errorf("a lock for arm64 on an amd64 daemon: %v", err)
	}

	// llbgen lock ignores the lock it replaces.
	in.Locking = true
	if _, err := Make(context.Background(), in, daemonFacts(goodDaemon(), amd64)); err != nil {
		t.Errorf("locking: %v", err)
	}
}

// A lock that does not cover the list is bad input, pointing at what it
// does not pin.
func TestMakeLockMismatch(t *testing.T) {
	list := parse(t, threeTargets)
	lk := lockFor(t, parse(t, "helper: {version: v0.12.0}\ngo: golang:1.26\ntargets:\n  - image: docker:19.03.12\n"), amd64)
	err := Check(Input{List: list, Lock: lk, LockPath: "targets.yaml.lock"})
	var e *Error
	if !errors.As(err, &e) || !e.BadInput || !strings.HasPrefix(err.Error(), "targets.yaml.lock does not match the target list: ") {
		t.Fatalf("got %v", err)
	}
	var lines []int
	for _, p := range e.Lines {
		lines = append(lines, p.Line)
	}
	if !slices.Equal(lines, []int{2, 5, 6}) {
		t.Errorf("lines %v, want the go key (the cgo target needs it on arm64), the missing image and the arm64 target's", lines)
	}
}

// The toolchain refusal: one line, at the go: key, naming what is wrong
// and what to do; bad input.
func TestMakeRefusesAGoImageWithoutAToolchain(t *testing.T) {
	const withKey = "helper: {version: v0.12.0}\n# the toolchain\n  \ngo:   golang:1.26\ntargets:\n  - image: docker:19.03.12\n    cgo: true\n    platforms: [linux/amd64, linux/arm64]\n"
	const noKey = "helper: {version: v0.12.0}\ntargets:\n  - image: docker:19.03.12\n"
	for _, c := range []struct {
		name, list string
		images     map[graph.ImageKey]fakeImage
		want       string
	}{
		{"no toolchain", withKey, map[graph.ImageKey]fakeImage{key(goFull, "linux/amd64"): {}},
			"targets.yaml:4:1: go image golang:1.26 has no Go toolchain at /usr/local/go (no regular file /usr/local/go/bin/go); name an image with a Go toolchain for linux/amd64 at /usr/local/go (the golang images have one for each platform)"},
		{"wrong architecture", withKey, map[graph.ImageKey]fakeImage{key(goFull, "linux/amd64"): {goHead: goImage("linux/arm64").goHead}},
			"targets.yaml:4:1: go image golang:1.26: its toolchain is for linux/arm64, the daemon builds on linux/amd64; name an image with a Go toolchain for linux/amd64 at /usr/local/go (the golang images have one for each platform)"},
		{"image for another platform", withKey, map[graph.ImageKey]fakeImage{key(goFull, "linux/amd64"): {config: `{"os":"linux","architecture":"arm64"}`, goHead: goImage("linux/amd64").goHead}},
			"targets.yaml:4:1: go image golang:1.26: the image is for linux/arm64 (its config), the daemon builds on linux/amd64; name an image with a Go toolchain for linux/amd64 at /usr/local/go (the golang images have one for each platform)"},
		{"wrong architecture where a cgo target compiles", withKey, map[graph.ImageKey]fakeImage{key(goFull, "linux/amd64"): goImage("linux/amd64"), key(goFull, "linux/arm64"): goImage("linux/amd64")},
			"targets.yaml:4:1: go image golang:1.26: its toolchain is for linux/amd64, cgo target docker_19.03.12 compiles on linux/arm64; name an image with a Go toolchain for linux/arm64 at /usr/local/go (the golang images have one for each platform)"},
		{"the default image", noKey, map[graph.ImageKey]fakeImage{key(goFull, "linux/amd64"): {}},
			"the list names no go image, and the default golang:1.26 has no Go toolchain at /usr/local/go (no regular file /usr/local/go/bin/go); add `go: IMAGE` to targets.yaml, naming an image with a Go toolchain for linux/amd64 at /usr/local/go"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := &fakeDaemon{images: c.images}
			if _, ok := d.images[key(goFull, "linux/arm64")]; !ok {
				d.images[key(goFull, "linux/arm64")] = goImage("linux/arm64")
			}
			d.images[key(muslFull, "linux/amd64")] = fakeImage{}
			d.images[key(muslFull, "linux/arm64")] = fakeImage{}
			_, err := Make(context.Background(), Input{List: parse(t, c.list)}, daemonFacts(d, amd64, arm64))
			var e *Error
			if !errors.As(err, &e) || !e.BadInput {
				t.Fatalf("got %#v, want bad input", err)
			}
			if err.Error() != c.want {
				t.Errorf("got  %s\nwant %s", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Error("more than one line")
			}
			if c.list == withKey && (len(e.Lines) != 1 || e.Lines[0] != e.Pos) {
				t.Errorf("lines %v, want the go key %v", e.Lines, e.Pos)
			}
		})
	}
}

// A go image's config is the image's text: a hostile one (escape
// sequences, newlines, a megabyte) reaches the refusal quoted and clipped,
// and the refusal is one bounded line that a terminal shows as it is.
func TestMakeRefusesAHostileGoImageConfig(t *testing.T) {
	config := `{"os":"linux\u001b]0;pwned\u0007\u001b[2J\nEVIL","architecture":"\u202e` + strings.Repeat("x", 1<<20) + `"}`
	d := &fakeDaemon{images: map[graph.ImageKey]fakeImage{
		key(goFull, "linux/amd64"):   {config: config, goHead: goImage("linux/amd64").goHead},
		key(muslFull, "linux/amd64"): {},
	}}
	list := parse(t, "helper: {version: v0.12.0}\ngo: golang:1.26\ntargets:\n  - image: docker:19.03.12\n")
	_, err := Make(context.Background(), Input{List: list}, daemonFacts(d, amd64))
	var e *Error
	if !errors.As(err, &e) || !e.BadInput {
		t.Fatalf("got %#v, want bad input", err)
	}
	msg := err.Error()
	const want = `targets.yaml:2:1: go image golang:1.26: the image is for "linux\x1b]0;pwned\a\x1b[2j\nevil/\u202exxx`
	if !strings.HasPrefix(msg, want) || !strings.Contains(msg, " bytes) (its config), the daemon builds on linux/amd64; name an image") {
		t.Errorf("got  %.300s\nwant %s…", msg, want)
	}
	assertSafeLine(t, msg, MaxError)
}

// assertSafeLine checks s is one line of at most limit bytes with nothing
// a terminal would act on or hide.
func assertSafeLine(t *testing.T, s string, limit int) {
	t.Helper()
	if len(s) > limit {
		t.Errorf("%d bytes, want at most %d", len(s), limit)
	}
	for _, r := range s {
		if unsafeRune(r) {
			t.Errorf("keeps %U: %.300q", r, s)
			return
		}
	}
}

// Whatever an Error holds, its message is one bounded, safe line: several
// refusals are joined with "; ".
func TestErrorIsOneBoundedLine(t *testing.T) {
	e := &Error{Err: errors.New("a: one\n\n  b: two\x1b[2J\u2028" + strings.Repeat("é", 5000)), Pos: targets.Pos{File: "targets.yaml", Line: 3, Col: 1}}
	msg := e.Error()
	if !strings.HasPrefix(msg, "targets.yaml:3:1: a: one; b: two?[2J?éé") || !strings.HasSuffix(msg, "…") {
		t.Errorf("got %.100q…", msg)
	}
	assertSafeLine(t, msg, MaxError)
	if short := (&Error{Err: errors.New("go image x: no toolchain")}).Error(); short != "go image x: no toolchain" {
		t.Errorf("a plain message changed: %q", short)
	}
}

// The refusal points at the go: key itself, as the parser saw it: for a
// list written as an explicit key (? go), and for `llbgen --image REF -f
// FILE`, whose go image is the file's.
func TestToolchainRefusalAtTheGoKey(t *testing.T) {
	explicit := parse(t, "helper: {version: v0.12.0}\n? go\n: golang:1.26\ntargets:\n  - image: docker:19.03.12\n")
	file := parse(t, "helper: {version: v0.12.0}\n\ngo: golang:1.26\ntargets:\n  - image: alpine:3\n")
	images, err := targets.FromImages(file, []targets.ImageArg{{Image: "docker:19.03.12"}})
	if err != nil {
		t.Fatal(err)
	}
	const problem = "go image golang:1.26 has no Go toolchain at /usr/local/go (no regular file /usr/local/go/bin/go); name an image with a Go toolchain for linux/amd64 at /usr/local/go (the golang images have one for each platform)"
	for _, c := range []struct {
		name string
		list *targets.List
		at   targets.Pos
	}{
		{"explicit key", explicit, targets.Pos{File: "targets.yaml", Line: 2, Col: 3}},
		{"--image with the file's go:", images, targets.Pos{File: "targets.yaml", Line: 3, Col: 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := &fakeDaemon{images: map[graph.ImageKey]fakeImage{key(goFull, "linux/amd64"): {}, key(muslFull, "linux/amd64"): {}}}
			_, err := Make(context.Background(), Input{List: c.list}, daemonFacts(d, amd64))
			var e *Error
			if !errors.As(err, &e) || !e.BadInput {
				t.Fatalf("got %#v, want bad input", err)
			}
			if want := c.at.String() + ": " + problem; err.Error() != want {
				t.Errorf("got  %s\nwant %s", err, want)
			}
			if e.Pos != c.at || len(e.Lines) != 1 || e.Lines[0] != c.at {
				t.Errorf("at %v, lines %v; want %v", e.Pos, e.Lines, c.at)
			}
		})
	}
}
