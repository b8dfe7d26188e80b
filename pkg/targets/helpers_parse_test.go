package targets

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

const helpersTargets = "targets:\n  - image: docker:19.03.12\n  - image: alpine:3\n    name: a\n"

func TestParseKnownHelper(t *testing.T) {
	l, err := Parse("targets.yaml", []byte("helpers:\n  gcr: {version: v2.2.1}\n"+helpersTargets))
	if err != nil {
		t.Fatal(err)
	}
	if l.Helpers[0].Name != "gcr" || l.Helpers[0].Version != "v2.2.1" || l.Helpers[0].Custom != nil {
		t.Fatalf("helper %+v, want gcr v2.2.1", l.Helpers[0])
	}
	if l.Helpers[0].Lines.First != 2 || l.Helpers[0].Lines.Last != 2 {
		t.Errorf("helper lines %+v, want 2-2", l.Helpers[0].Lines)
	}
	if s := l.Helpers[0].Spec(); s.Module != "github.com/GoogleCloudPlatform/docker-credential-gcr/v2" || s.Binary() != "docker-credential-gcr" {
		t.Errorf("spec %+v", s)
	}
	var files []string
	for _, b := range l.Binaries() {
		files = append(files, b.FileName())
	}
	if want := []string{"docker-credential-gcr-docker_19.03.12", "docker-credential-gcr-a"}; !slices.Equal(files, want) {
		t.Errorf("files %q, want %q", files, want)
	}
	for _, tg := range l.Targets {
		if tg.Cgo {
			t.Errorf("target %s is cgo: gcr is not", tg.Name)
		}
	}
}

func TestParseHelperIsEcrLogin(t *testing.T) {
	l, err := Parse("targets.yaml", []byte("helper: {version: v0.12.0}\n"+helpersTargets))
	if err != nil {
		t.Fatal(err)
	}
	if s := l.Helpers[0].Spec(); s.Name != DefaultHelper || s.Module != HelperModule {
		t.Errorf("helper: builds %+v, want ecr-login", s)
	}
	if f := l.Binaries()[0].FileName(); f != BinaryPrefix+"docker_19.03.12" {
		t.Errorf("file %s", f)
	}
	if err := l.SetHelperVersion("v0.13.0", "--helper-version"); err != nil {
		t.Fatal(err)
	}
	if l.Helpers[0].Spec().Name != DefaultHelper {
		t.Errorf("--helper-version changed the helper: %+v", l.Helpers[0])
	}
	g, err := Parse("targets.yaml", []byte("helpers:\n  gcr: {version: v2.2.1}\n"+helpersTargets))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.SetHelperVersion("v2.2.0", "--helper-version"); err != nil {
		t.Fatal(err)
	}
	if s := g.Helpers[0].Spec(); s.Name != "gcr" || g.Helpers[0].Version != "v2.2.0" || g.Binaries()[0].FileName() != "docker-credential-gcr-docker_19.03.12" {
		t.Errorf("--helper-version on a gcr list: %+v, file %s", g.Helpers[0], g.Binaries()[0].FileName())
	}
}

func TestParseCgoHelperMakesEveryTargetCgo(t *testing.T) {
	l, err := Parse("targets.yaml", []byte("helpers:\n  secretservice: {version: v0.9.13}\n"+
		"targets:\n  - image: debian:12\n    setup: [apt-get install -y libsecret-1-dev]\n  - image: alpine:3\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range l.Binaries() {
		if !b.Cgo() || b.Target.Cgo {
			t.Errorf("binary %s: cgo %v (target %v), want a cgo binary of a target that does not say cgo", b.Name, b.Cgo(), b.Target.Cgo)
		}
	}
	if f := l.Binaries()[1].FileName(); f != "docker-credential-secretservice-alpine_3" {
		t.Errorf("file %s", f)
	}
}

func TestParseCustomHelper(t *testing.T) {
	l, err := Parse("targets.yaml", []byte(`helpers:
  acme:
    module: example.com/acme/docker-credential-acme
    package: ./cmd/docker-credential-acme
    version: v1.4.0
    ldflags: ["-s", "-w", "-X example.com/acme/docker-credential-acme/version.V={{.Version}}", "-X example.com/acme/docker-credential-acme.B={{.Bare}}"]
    check: {args: [version, --short], expect: "acme {{.Bare}}"}
`+helpersTargets))
	if err != nil {
		t.Fatal(err)
	}
	s := l.Helpers[0].Spec()
	if s.Module != "example.com/acme/docker-credential-acme" || s.Package != "./cmd/docker-credential-acme" || s.Binary() != "docker-credential-acme" {
		t.Fatalf("spec %+v", s)
	}
	if got, want := s.LDFlags("v1.4.0"), "-s -w -buildid= -X example.com/acme/docker-credential-acme/version.V=v1.4.0 -X example.com/acme/docker-credential-acme.B=1.4.0"; got != want {
		t.Errorf("ldflags %q, want %q", got, want)
	}
	if !slices.Equal(s.CheckArgs, []string{"version", "--short"}) || s.Want("v1.4.0") != "acme 1.4.0" {
		t.Errorf("check %q want %q", s.CheckArgs, s.Want("v1.4.0"))
	}
	if f := l.Binaries()[0].FileName(); f != "docker-credential-acme-docker_19.03.12" {
		t.Errorf("file %s", f)
	}
	// the defaults: package ., check `version` printing the version
	l, err = Parse("targets.yaml", []byte("helpers:\n  acme: {module: example.com/acme, version: v1.4.0}\n"+helpersTargets))
	if err != nil {
		t.Fatal(err)
	}
	if s := l.Helpers[0].Spec(); s.Package != "." || s.CheckArgs != nil || s.Want("v1.4.0") != "v1.4.0" || s.LDFlags("v1.4.0") != " -buildid=" && s.LDFlags("v1.4.0") != "-buildid=" {
		t.Errorf("defaults %+v, ldflags %q", s, s.LDFlags("v1.4.0"))
	}
}

func TestParseHelpersRefusals(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // "LINE:COL phrase"
	}{
		{"both forms", "helper: {version: v0.12.0}\nhelpers: {gcr: {version: v2.2.1}}\n" + helpersTargets, []string{"2:1 both helper and helpers"}},
		{"none", helpersTargets, []string{"1:1 helper is missing"}},
		{"empty", "helpers: {}\n" + helpersTargets, []string{"1:10 helpers must be a mapping"}},
		{"helper twice", "helpers:\n  gcr: {version: v2.2.1}\n  gcr: {version: v2.2.0}\n" + helpersTargets, []string{"3:3 helper \"gcr\" appears twice"}},
		{"too many helpers", "helpers:\n" + strings.Repeat("  x: {}\n", 0) + "  a1: {module: x.com/a, version: v1.0.0}\n  a2: {module: x.com/a, version: v1.0.0}\n  a3: {module: x.com/a, version: v1.0.0}\n  a4: {module: x.com/a, version: v1.0.0}\n  a5: {module: x.com/a, version: v1.0.0}\n  a6: {module: x.com/a, version: v1.0.0}\n  a7: {module: x.com/a, version: v1.0.0}\n  a8: {module: x.com/a, version: v1.0.0}\n  a9: {module: x.com/a, version: v1.0.0}\n" + helpersTargets,
			[]string{"1:1 more than the 8 a list may build"}},
		{"target names a helper the list lacks", "helpers:\n  gcr: {version: v2.2.1}\ntargets:\n  - image: alpine:3\n    helpers: [pass]\n", []string{"5:14 names helper \"pass\", which the list does not build"}},
		{"target helpers empty", "helpers:\n  gcr: {version: v2.2.1}\ntargets:\n  - image: alpine:3\n    helpers: []\n", []string{"5:14 helpers is empty"}},
		{"one file from two helpers", "helpers:\n  gcr: {version: v2.2.1}\n  gcr-x: {module: x.com/a, version: v1.0.0}\ntargets:\n  - image: alpine:3\n    name: x-y\n  - image: alpine:3\n    name: y\n",
			[]string{"7:5 writes docker-credential-gcr-x-y"}},
		{"every target's clash", "helpers:\n  gcr: {version: v2.2.1}\n  gcr-x: {module: x.com/a, version: v1.0.0}\ntargets:\n  - image: alpine:3\n    name: x-y\n  - image: alpine:3\n    name: x-z\n  - image: alpine:3\n    name: y\n  - image: alpine:3\n    name: z\n",
			[]string{"9:5 target y's gcr-x binary writes docker-credential-gcr-x-y", "11:5 target z's gcr-x binary writes docker-credential-gcr-x-z"}},
		{"bad name", "helpers:\n  ../x: {version: v1.0.0}\n" + helpersTargets, []string{"2:3 helper name \"../x\""}},
		{"long name", "helpers:\n  " + strings.Repeat("a", 17) + ": {version: v1.0.0}\n" + helpersTargets, []string{"2:3 at most 16 bytes"}},
		{"no version", "helpers:\n  gcr: {}\n" + helpersTargets, []string{"2:3 helpers.gcr.version is missing"}},
		{"bad version", "helpers:\n  gcr: {version: 2.2.1}\n" + helpersTargets, []string{"2:18 not a full semantic version"}},
		{"known takes version only", "helpers:\n  gcr: {version: v2.2.1, module: x.com/y}\n" + helpersTargets, []string{"2:26 unknown key \"module\""}},
		{"unknown without module", "helpers:\n  acme: {version: v1.0.0}\n" + helpersTargets, []string{"2:3 not a helper llbgen knows"}},
		{"bad module", "helpers:\n  acme: {module: \"-x\", version: v1.0.0}\n" + helpersTargets, []string{"2:18 is not a Go module path"}},
		{"package outside", "helpers:\n  acme: {module: x.com/y, package: ../z, version: v1.0.0}\n" + helpersTargets, []string{"2:36 is not a package inside the module"}},
		{"package absolute", "helpers:\n  acme: {module: x.com/y, package: /z, version: v1.0.0}\n" + helpersTargets, []string{"2:36 is not a package inside the module"}},
		{"linker runs a program", "helpers:\n  acme: {module: x.com/y, version: v1.0.0, ldflags: [\"-linkmode=external -extld=/bin/sh\"]}\n" + helpersTargets,
			[]string{"2:54 is not -s, -w or -X"}},
		{"quote in -X", "helpers:\n  acme: {module: x.com/y, version: v1.0.0, ldflags: [\"-X x.com/y.b=c'd\"]}\n" + helpersTargets,
			[]string{"2:54 is not -s, -w or -X"}},
		{"-X outside the module", "helpers:\n  acme: {module: x.com/y, version: v1.0.0, ldflags: [\"-X runtime.buildVersion=go9\", \"-X x.com/yz.V=1\"]}\n" + helpersTargets,
			[]string{"2:54 sets a variable outside x.com/y", "2:85 sets a variable outside x.com/y"}},
		{"package climbing out", "helpers:\n  acme: {module: x.com/y, package: ./a/../../z, version: v1.0.0}\n" + helpersTargets, []string{"2:36 is not a package inside the module"}},
		{"package pattern", "helpers:\n  acme: {module: x.com/y, package: ./..., version: v1.0.0}\n" + helpersTargets, []string{"2:36 is not a package inside the module"}},
		{"expect with a space", "helpers:\n  acme: {module: x.com/y, version: v1.0.0, check: {expect: \"v1 \"}}\n" + helpersTargets, []string{"2:60 starts or ends with a space"}},
		{"other template", "helpers:\n  acme: {module: x.com/y, version: v1.0.0, ldflags: [\"-X x.com/y.B={{.Commit}}\"]}\n" + helpersTargets,
			[]string{"2:54 holds a template other than"}},
		{"too many ldflags", "helpers:\n  acme: {module: x.com/y, version: v1.0.0, ldflags: [" + strings.Repeat("-s, ", 33) + "-s]}\n" + helpersTargets,
			[]string{"2:44 more than the 32 allowed"}},
		{"check arg with newline", "helpers:\n  acme: {module: x.com/y, version: v1.0.0, check: {args: [\"a\\nb\"]}}\n" + helpersTargets,
			[]string{"2:59 one word"}},
		{"publish of another helper", "helpers:\n  gcr: {version: v2.2.1}\n" + helpersTargets + "publish: {images: \"r.example/{repo}:{tag}-gcr\"}\n",
			[]string{"7:19 publish makes images of ecr-login binaries only"}},
		{"cgo false with a cgo helper", "helpers:\n  secretservice: {version: v0.9.13}\ntargets:\n  - image: alpine:3\n    cgo: false\n",
			[]string{"5:10 secretservice is built with cgo"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("targets.yaml", []byte(tt.yaml))
			var errs ErrorList
			if !errors.As(err, &errs) {
				t.Fatalf("got %v, want refusals", err)
			}
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d refusals, want %d:\n%v", len(errs), len(tt.want), err)
			}
			for i, want := range tt.want {
				at, phrase, _ := strings.Cut(want, " ")
				if got := errs[i].Error(); !strings.HasPrefix(got, "targets.yaml:"+at+": ") || !strings.Contains(got, phrase) {
					t.Errorf("refusal %d:\n got %s\nwant targets.yaml:%s: ...%s...", i, got, at, phrase)
				}
			}
		})
	}
}

// --image targets take the file's helper: their files are named after it,
// and a cgo helper makes them cgo.
func TestImageFlagsKeepTheHelper(t *testing.T) {
	base, err := Parse("targets.yaml", []byte("helpers:\n  secretservice: {version: v0.9.13}\n"+helpersTargets))
	if err != nil {
		t.Fatal(err)
	}
	l, err := FromImages(base, []ImageArg{{Image: "debian:12"}})
	if err != nil {
		t.Fatal(err)
	}
	b := l.Binaries()[0]
	if b.FileName() != "docker-credential-secretservice-debian_12" || !b.Cgo() {
		t.Errorf("--image binary %s, cgo %v; want secretservice's, cgo", b.FileName(), b.Cgo())
	}
}

// A list of several helpers builds each for every target, or those a
// target names; each binary's name starts with its helper's.
func TestParseSeveralHelpers(t *testing.T) {
	l, err := Parse("targets.yaml", []byte(`helpers:
  ecr-login: {version: v0.13.0}
  gcr: {version: v2.2.1}
  secretservice: {version: v0.9.13}
targets:
  - image: docker:19.03.12
    helpers: [gcr]
  - image: debian:12
    setup: [apt-get install -y gcc libc6-dev libsecret-1-dev pkg-config]
    platforms: [linux/amd64, linux/arm64]
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range l.Binaries() {
		got = append(got, fmt.Sprintf("%s %s %s cgo=%v", b.Name, b.FileName(), b.Helper.Version, b.Cgo()))
	}
	want := []string{
		"gcr-docker_19.03.12 docker-credential-gcr-docker_19.03.12 v2.2.1 cgo=false",
		"ecr-login-debian_12-linux-amd64 docker-credential-ecr-login-debian_12-linux-amd64 v0.13.0 cgo=false",
		"ecr-login-debian_12-linux-arm64 docker-credential-ecr-login-debian_12-linux-arm64 v0.13.0 cgo=false",
		"gcr-debian_12-linux-amd64 docker-credential-gcr-debian_12-linux-amd64 v2.2.1 cgo=false",
		"gcr-debian_12-linux-arm64 docker-credential-gcr-debian_12-linux-arm64 v2.2.1 cgo=false",
		"secretservice-debian_12-linux-amd64 docker-credential-secretservice-debian_12-linux-amd64 v0.9.13 cgo=true",
		"secretservice-debian_12-linux-arm64 docker-credential-secretservice-debian_12-linux-arm64 v0.9.13 cgo=true",
	}
	if !slices.Equal(got, want) {
		t.Errorf("binaries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// a platform kept keeps every helper's binary of it
	arm := l.Only(func(b Binary) bool { return b.Platform != nil && b.Platform.Architecture == "arm64" })
	var kept []string
	for _, b := range arm.Binaries() {
		kept = append(kept, b.Name)
	}
	if want := []string{"ecr-login-debian_12-linux-arm64", "gcr-debian_12-linux-arm64", "secretservice-debian_12-linux-arm64"}; !slices.Equal(kept, want) {
		t.Errorf("Only arm64: %q, want %q", kept, want)
	}
	if err := l.SetHelperVersion("v0.14.0", "--helper-version"); err == nil || !strings.Contains(err.Error(), "builds 3") {
		t.Errorf("--helper-version on three helpers: %v, want a refusal", err)
	}
}

// The binaries bound counts each helper a target builds.
func TestBinaryBoundCountsHelpers(t *testing.T) {
	var b strings.Builder
	b.WriteString("helpers:\n")
	for i := range 8 {
		fmt.Fprintf(&b, "  h%d: {module: x.com/y, version: v1.0.0}\n", i)
	}
	b.WriteString("targets:\n")
	for i := range MaxBinaries/8 + 1 {
		fmt.Fprintf(&b, "  - image: alpine:%d\n", i)
	}
	_, err := Parse("targets.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("past %d binaries (one per target, helper and platform)", MaxBinaries)) {
		t.Errorf("8 helpers x %d targets: %v, want the binaries bound", MaxBinaries/8+1, err)
	}
	// a target's own helpers: counts as many as it names
	one := strings.Replace(b.String(), "targets:\n", "targets:\n  - image: busybox:1\n    helpers: [h0]\n", 1)
	for _, i := range []int{MaxBinaries / 8, MaxBinaries/8 - 1} {
		one = strings.Replace(one, fmt.Sprintf("  - image: alpine:%d\n", i), "", 1)
	}
	if _, err := Parse("targets.yaml", []byte(one)); err != nil {
		t.Errorf("%d binaries: %v", MaxBinaries-7, err)
	}
}
