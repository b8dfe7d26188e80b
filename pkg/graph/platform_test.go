package graph

import (
	"strings"
	"testing"

	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/pkg/targets"
)

var (
	amd64 = ocispecs.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = ocispecs.Platform{OS: "linux", Architecture: "arm64"}
)

func multiList() *targets.List {
	l := testList("docker:19.03.12")
	l.Targets[0].Name = "multi"
	l.Targets[0].Platforms = []targets.Platform{{Platform: amd64}, {Platform: arm64}}
	return l
}

func opPlatform(op *pb.Op) string {
	if op.Platform == nil {
		return ""
	}
	return op.Platform.OS + "/" + op.Platform.Architecture
}

// A static binary for another platform is cross-compiled by the toolchain
// on the daemon's platform, in the go image, once for that platform; it is
// verified from the daemon's platform in its own image.
func TestCrossCompile(t *testing.T) {
	d := decode(t, mustBuild(t, multiList(), Options{Platform: amd64}).Output)
	for _, c := range []struct{ name, arch, compile string }{
		{"multi-linux-amd64", "amd64", "compile the helper once for linux/amd64, for every static binary"},
		{"multi-linux-arm64", "arm64", "compile the helper once for linux/arm64, for every static binary"},
	} {
		op := d.exec(t, c.compile)
		if got := opPlatform(op); got != "linux/amd64" {
			t.Errorf("%s: compile runs on %q, want the daemon's linux/amd64", c.name, got)
		}
		env := envOf(op)
		if env["GOOS"] != "linux" || env["GOARCH"] != c.arch || env["CGO_ENABLED"] != "0" {
			t.Errorf("%s: env %v", c.name, env)
		}
		root := d.input(op, mount(t, op, "/"))
		if got := opPlatform(root); got != "linux/amd64" || imageRef(root) != "docker.io/library/golang:1.26" {
			t.Errorf("%s: compile rooted in %s for %q, want the go image for linux/amd64", c.name, imageRef(root), got)
		}
		v := d.exec(t, "verify "+c.name+" ")
		if d.input(v, mount(t, v, verifyIn)) != op {
			t.Errorf("%s: verify does not run the compile for linux/%s", c.name, c.arch)
		}
		if got := opPlatform(v); got != "linux/amd64" {
			t.Errorf("%s: verify runs on %q, want the daemon's platform (the stage tool is built for it)", c.name, got)
		}
		vroot := d.input(v, mount(t, v, "/"))
		if got := opPlatform(vroot); got != "linux/"+c.arch || imageRef(vroot) != "docker.io/library/docker:19.03.12" {
			t.Errorf("%s: verified in %q for %q, want the target image for linux/%s", c.name, imageRef(vroot), got, c.arch)
		}
		del := d.file(t, "deliver "+c.name)
		if dest := del.GetFile().Actions[4].GetCopy().GetDest(); dest != "/docker-credential-ecr-login-"+c.name {
			t.Errorf("%s: deliver writes %q", c.name, dest)
		}
	}
}

// A platform the daemon cannot run is passed on without a run, and said so.
func TestUnverifiablePlatform(t *testing.T) {
	g := mustBuild(t, multiList(), Options{Platform: amd64, CanRun: func(p ocispecs.Platform) bool { return p.Architecture == "amd64" }})
	if got := g.Unverified["multi-linux-arm64"]; got != "not verified: no emulator for linux/arm64" {
		t.Errorf("Unverified = %q", got)
	}
	if _, ok := g.Unverified["multi-linux-amd64"]; ok {
		t.Error("the native binary is marked unverified")
	}
	d := decode(t, g.Output)
	op := d.file(t, "pass multi-linux-arm64 on, not verified: no emulator for linux/arm64")
	for _, a := range op.GetFile().Actions {
		if a.GetCopy().GetSrc() == "/verdict" {
			t.Error("a binary passed on waits for a verdict")
		}
	}
	d.exec(t, "verify multi-linux-amd64 ")
	for dg, o := range d.ops {
		if o.GetExec() != nil && strings.HasPrefix(d.names[dg], "verify multi-linux-arm64") {
			t.Error("a binary nothing can run is verified")
		}
	}
}

// A cgo target runs its setup in its image with a shell, network on, then
// compiles there with CGO_ENABLED=1, and is verified in the image as it
// was, without what setup installed.
func TestCgoTarget(t *testing.T) {
	l := testList("gitlab/gitlab-runner:v13.2.1")
	l.Targets[0].Name = "runner-cgo"
	l.Targets[0].Cgo = true
	l.Targets[0].Setup = []string{"apt-get update", "apt-get install -y gcc libc6-dev"}
	d := decode(t, mustBuild(t, l, Options{Platform: amd64}).Output)

	s2 := d.exec(t, "setup runner-cgo (2/2): apt-get install")
	if args := s2.GetExec().Meta.Args; strings.Join(args, " ") != "/bin/sh -c apt-get install -y gcc libc6-dev" {
		t.Errorf("setup args %q", args)
	}
	if s2.GetExec().Network == pb.NetMode_NONE {
		t.Error("setup has no network; it must reach package mirrors")
	}
	s1 := d.exec(t, "setup runner-cgo (1/2): apt-get update")
	if d.input(s2, mount(t, s2, "/")) != s1 {
		t.Error("setup commands do not run one after another")
	}
	c := d.exec(t, "compile runner-cgo ")
	if d.input(c, mount(t, c, "/")) != s2 {
		t.Error("the cgo compile is not rooted in the setup's result")
	}
	env := envOf(c)
	if env["CGO_ENABLED"] != "1" || c.GetExec().Network != pb.NetMode_NONE {
		t.Errorf("cgo compile env %v network %v", env, c.GetExec().Network)
	}
	for dg, op := range d.ops {
		if op == c {
			continue
		}
		for _, in := range c.Inputs {
			if digest.Digest(in.Digest) == dg && strings.HasPrefix(d.names[dg], "compile the helper once") {
				t.Error("a cgo compile waits for the static compile it cannot use")
			}
		}
	}
	v := d.exec(t, "verify runner-cgo ")
	if got := imageRef(d.input(v, mount(t, v, "/"))); got != "docker.io/library/gitlab/gitlab-runner:v13.2.1" {
		t.Errorf("the cgo binary is verified in %q, want the target image itself, without setup", got)
	}
}

// Images lists every image and platform a list uses, the toolchain first.
func TestImages(t *testing.T) {
	l := multiList()
	cgo := testList("alpine:3.12").Targets[0]
	cgo.Cgo = true
	cgo.Platforms = []targets.Platform{{Platform: arm64}}
	l.Targets = append(l.Targets, cgo)
	var got []string
	for _, k := range Images(l, amd64) {
		got = append(got, k.String())
	}
	want := []string{
		"docker.io/library/golang:1.26 (linux/amd64)",
		"docker.io/library/alpine:3.12 (linux/arm64)",
		"docker.io/library/docker:19.03.12 (linux/amd64)",
		"docker.io/library/docker:19.03.12 (linux/arm64)",
		"docker.io/library/golang:1.26 (linux/arm64)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Images:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A default target platform other than the daemon's (a frontend's
// --platform) is cross-compiled like a named one: the toolchain stays on
// the daemon's platform.
func TestTargetPlatformCrossCompiles(t *testing.T) {
	l := testList("docker:19.03.12")
	d := decode(t, mustBuild(t, l, Options{Platform: amd64, Target: arm64}).Output)
	op := d.exec(t, "compile the helper once for linux/arm64, for every static binary")
	if got, env := opPlatform(op), envOf(op); got != "linux/amd64" || env["GOARCH"] != "arm64" {
		t.Errorf("compile on %q for GOARCH=%s, want on linux/amd64 for arm64", got, env["GOARCH"])
	}
	v := d.exec(t, "verify docker_19.03.12 ")
	if got := opPlatform(d.input(v, mount(t, v, "/"))); got != "linux/arm64" {
		t.Errorf("verified in the image for %q", got)
	}
	if got := Images(l, amd64, arm64); len(got) != 2 || got[1].Platform != "linux/arm64" || got[0].Platform != "linux/amd64" {
		t.Errorf("Images: %v", got)
	}
}
