package graph

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/solver/pb"

	"github.com/llbgen/llbgen/pkg/targets"
)

// A list of several helpers: one download per module version (pass and
// secretservice share docker-credential-helpers'), one static compile per
// helper and platform, a cgo compile in the image for the cgo helper, and
// each binary checked and delivered under its own file name, with its own
// helper's check.
func TestSeveralHelpers(t *testing.T) {
	l, err := targets.Parse("targets.yaml", []byte(`helpers:
  ecr-login: {version: v0.12.0}
  gcr: {version: v2.2.1}
  pass: {version: v0.9.13}
  secretservice: {version: v0.9.13}
go: golang:1.26
targets:
  - image: docker:19.03.12
    helpers: [ecr-login, gcr, pass]
  - image: debian:12
    setup: [apt-get install -y gcc libc6-dev libsecret-1-dev pkg-config]
`))
	if err != nil {
		t.Fatal(err)
	}
	g := mustBuild(t, l, Options{})
	d := decode(t, g.Output)
	count := func(prefix string) []string {
		var names []string
		for _, n := range d.names {
			if strings.HasPrefix(n, prefix) {
				names = append(names, n)
			}
		}
		slices.Sort(names)
		return names
	}
	if got, want := count("download github.com/"), []string{
		"download github.com/GoogleCloudPlatform/docker-credential-gcr/v2@v2.2.1",
		"download github.com/awslabs/amazon-ecr-credential-helper/ecr-login@v0.12.0",
		"download github.com/docker/docker-credential-helpers@v0.9.13",
	}; !slices.Equal(got, want) {
		t.Errorf("downloads %q, want %q", got, want)
	}
	if got := count("compile docker-credential-"); len(got) != 3 {
		t.Errorf("static compiles %q, want one each for ecr-login, gcr and pass", got)
	}
	if got := count("compile "); len(got) != 5 { // 3 static, the stage tool, one cgo
		t.Errorf("compiles %q, want the stage tool's, 3 static ones and secretservice's in debian:12 alone", got)
	}
	if got := count("compile secretservice-debian_12 in debian:12"); len(got) != 1 {
		t.Errorf("cgo compiles %q, want secretservice's in debian:12", got)
	}
	if got := count("deliver "); len(got) != 7 {
		t.Errorf("deliveries %q, want 3 + 4", got)
	}
	// pass's static compile and secretservice's cgo compile read one module cache
	pass := d.exec(t, "compile docker-credential-pass once")
	ss := d.exec(t, "compile secretservice-debian_12")
	if a, b := d.input(pass, mount(t, pass, modCache)), d.input(ss, mount(t, ss, modCache)); a != b {
		t.Errorf("pass and secretservice read different module caches: %s, %s", d.nameOf(a), d.nameOf(b))
	}
	for _, c := range []struct{ exec, pkg, out string }{
		{"compile docker-credential-gcr once", ".", "/llbgen/bin/docker-credential-gcr"},
		{"compile docker-credential-pass once", "./pass/cmd", "/llbgen/bin/docker-credential-pass"},
		{"compile secretservice-debian_12", "./secretservice/cmd", "/llbgen/bin/docker-credential-secretservice"},
	} {
		args := d.exec(t, c.exec).GetExec().Meta.Args
		if args[len(args)-1] != c.pkg || !slices.Contains(args, c.out) {
			t.Errorf("%s: %q, want package %s built to %s", c.exec, args, c.pkg, c.out)
		}
	}
	checks := map[string]string{ // a check's binary and wanted output, by target
		"verify gcr-docker_19.03.12":          "/llbgen/in/docker-credential-gcr 2.2.1",
		"verify pass-docker_19.03.12":         "/llbgen/in/docker-credential-pass v0.9.13",
		"verify secretservice-debian_12":      "/llbgen/in/docker-credential-secretservice v0.9.13",
		"verify ecr-login-docker_19.03.12 in": "/llbgen/in/docker-credential-ecr-login 0.12.0",
	}
	for prefix, want := range checks {
		meta := d.exec(t, prefix).GetExec().Meta
		in, v := argAfter(meta, "-in"), argAfter(meta, "-want")
		if in+" "+v != want {
			t.Errorf("%s checks %s %s, want %s", prefix, in, v, want)
		}
	}
	files := map[string]bool{}
	for _, b := range l.Binaries() {
		files[b.FileName()] = true
	}
	for _, f := range []string{"docker-credential-gcr-docker_19.03.12", "docker-credential-secretservice-debian_12", "docker-credential-ecr-login-debian_12"} {
		if !files[f] {
			t.Errorf("no binary %s among %v", f, files)
		}
	}
}

// argAfter is the argument after flag in an exec's arguments.
func argAfter(meta *pb.Meta, flag string) string {
	i := slices.Index(meta.Args, flag)
	if i < 0 || i+1 >= len(meta.Args) {
		return ""
	}
	return meta.Args[i+1]
}

// Each helper module is checked against its own pins: a lock's sum for gcr
// holds gcr's download only, versions of one module are downloaded apart,
// and the checksum-database refusal covers every helper, not the first.
func TestSeveralHelpersKeepTheirOwnModules(t *testing.T) {
	l, err := targets.Parse("targets.yaml", []byte(`helpers:
  ecr-login: {version: v0.12.0}
  gcr: {version: v2.2.1}
  pass: {version: v0.9.13}
  secretservice: {version: v0.9.12}
targets:
  - image: docker:19.03.12
`))
	if err != nil {
		t.Fatal(err)
	}
	gcr := l.Helpers[1]
	g := mustBuild(t, l, Options{Locked: map[string]LockedModule{ModuleKey(gcr): {Sum: "h1:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB=", Time: "2025-01-01T00:00:00Z"}}})
	d := decode(t, g.Output)
	var checks, downloads []string
	for _, n := range d.names {
		switch {
		case strings.HasPrefix(n, "check ") && strings.HasSuffix(n, " against the lock"):
			checks = append(checks, n)
		case strings.HasPrefix(n, "download github.com/docker/"):
			downloads = append(downloads, n)
		}
	}
	if want := []string{"check " + ModuleKey(gcr) + " against the lock"}; !slices.Equal(checks, want) {
		t.Errorf("module checks %q, want %q", checks, want)
	}
	slices.Sort(downloads)
	if want := []string{"download github.com/docker/docker-credential-helpers@v0.9.12", "download github.com/docker/docker-credential-helpers@v0.9.13"}; !slices.Equal(downloads, want) {
		t.Errorf("downloads %q, want one per version", downloads)
	}
	for prefix, locked := range map[string]bool{"compile docker-credential-gcr once": true, "compile docker-credential-ecr-login once": false} {
		if got := slices.Contains(d.exec(t, prefix).GetExec().Meta.Args, "-locked"); got != locked {
			t.Errorf("%s: locked %v, want %v", prefix, got, locked)
		}
	}
	env := map[string]string{"GONOSUMDB": "github.com/GoogleCloudPlatform"}
	if _, err := Define(l, Options{Env: env}); !errors.As(err, new(*SumDBError)) {
		t.Errorf("GONOSUMDB covering gcr, the second helper: %v, want a refusal", err)
	}
}
