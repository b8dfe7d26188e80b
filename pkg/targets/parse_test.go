package targets

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/platforms"
)

const file = "targets.yaml"

func TestParse(t *testing.T) {
	type target struct{ name, full string }
	tests := []struct {
		name    string
		yaml    string
		version string
		goFull  string
		targets []target
	}{
		{
			name:    "minimal",
			yaml:    "helper:\n  version: v0.12.0\ntargets:\n  - image: docker:19.03.12\n",
			version: "v0.12.0",
			goFull:  "docker.io/library/golang:1.26",
			targets: []target{{"docker_19.03.12", "docker.io/library/docker:19.03.12"}},
		},
		{
			name: "example from the docs",
			yaml: `helper:
  version: v0.12.0      # module version
go: golang:1.26
targets:
  - image: docker:19.03.12
  - image: gitlab/gitlab-runner:v13.2.1
    name: runner
`,
			version: "v0.12.0",
			goFull:  "docker.io/library/golang:1.26",
			targets: []target{
				{"docker_19.03.12", "docker.io/library/docker:19.03.12"},
				{"runner", "docker.io/gitlab/gitlab-runner:v13.2.1"},
			},
		},
		{
			name:    "flow style, prerelease version, own go image",
			yaml:    `{helper: {version: "v0.13.0-rc.1"}, go: "registry.example.com/tools/go:1.26", targets: [{image: alpine}]}`,
			version: "v0.13.0-rc.1",
			goFull:  "registry.example.com/tools/go:1.26",
			targets: []target{{"alpine_latest", "docker.io/library/alpine:latest"}},
		},
		{
			name: "digest-only image stays digest-only",
			yaml: "helper: {version: v0.12.0}\ntargets:\n  - image: alpine@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
			targets: []target{{"alpine_0123456789ab",
				"docker.io/library/alpine@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}},
			version: "v0.12.0",
			goFull:  "docker.io/library/golang:1.26",
		},
		{
			name:    "registry with port and no tag gets latest",
			yaml:    "helper: {version: v0.12.0}\ntargets:\n  - image: registry:5000/a/b\n",
			version: "v0.12.0",
			goFull:  "docker.io/library/golang:1.26",
			targets: []target{{"b_latest", "registry:5000/a/b:latest"}},
		},
		{
			name: "anchors and aliases are followed",
			yaml: `helper: {version: v0.12.0}
targets:
  - image: &img docker:19.03.12
    name: one
  - image: *img
    name: two
  - &t {image: alpine:3}
`,
			version: "v0.12.0",
			goFull:  "docker.io/library/golang:1.26",
			targets: []target{
				{"one", "docker.io/library/docker:19.03.12"},
				{"two", "docker.io/library/docker:19.03.12"},
				{"alpine_3", "docker.io/library/alpine:3"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Parse(file, []byte(tt.yaml))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if l.File != file || l.Helpers[0].Version != tt.version || l.Go.Full != tt.goFull {
				t.Errorf("got file %q version %q go %q, want %q %q %q", l.File, l.Helpers[0].Version, l.Go.Full, file, tt.version, tt.goFull)
			}
			if len(l.Targets) != len(tt.targets) {
				t.Fatalf("got %d targets, want %d", len(l.Targets), len(tt.targets))
			}
			for i, want := range tt.targets {
				got := l.Targets[i]
				if got.Name != want.name || got.Image.Full != want.full {
					t.Errorf("target %d: got %q %q, want %q %q", i, got.Name, got.Image.Full, want.name, want.full)
				}
			}
		})
	}
}

func TestParsePositions(t *testing.T) {
	l, err := Parse(file, []byte("helper:\n  version: v0.12.0\ntargets:\n  - image: docker:19.03.12\n    name: d\n"))
	if err != nil {
		t.Fatal(err)
	}
	tg := l.Targets[0]
	for _, c := range []struct {
		what string
		got  Pos
		want string
	}{
		{"helper", l.Helpers[0].Pos, "targets.yaml:2:12"},
		{"target", tg.Pos, "targets.yaml:4:5"},
		{"image", tg.Image.Pos, "targets.yaml:4:12"},
	} {
		if c.got.String() != c.want {
			t.Errorf("%s at %s, want %s", c.what, c.got, c.want)
		}
	}
	if l.Go.Ref != DefaultGoImage || tg.Image.Ref != "docker:19.03.12" || tg.Binaries()[0].FileName() != BinaryPrefix+"d" {
		t.Errorf("got go %q, image %q, file %q", l.Go.Ref, tg.Image.Ref, tg.Binaries()[0].FileName())
	}
}

// valid is prepended to refusal cases that are about targets.
const valid = "helper:\n  version: v0.12.0\ntargets:\n"

func TestParseRefusals(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // "LINE:COL phrase", one per refusal, in order
	}{
		{"empty file", "", []string{"1:1 the file is empty"}},
		{"comments only", "# nothing\n", []string{"1:1 the file is empty"}},
		{"null document", "~\n", []string{"1:1 the file is empty"}},
		{"syntax error with line", valid + "  - image: [\n", []string{"4:1 invalid YAML: did not find expected node content"}},
		{"syntax error without line", "a: b: c\n", []string{"1:1 invalid YAML: mapping values are not allowed"}},
		{"tab indentation", valid + "\t- image: docker:1\n", []string{"4:1 invalid YAML: found character that cannot start any token"}},
		{"unknown anchor", valid + "  - image: *nope\n", []string{"1:1 invalid YAML: unknown anchor 'nope' referenced"}},
		{"second document", valid + "  - image: docker:1\n---\nfoo: 1\n", []string{"5:1 a second YAML document starts here"}},
		{"top level is a list", "- image: docker:1\n", []string{"1:1 the target list must be a mapping"}},
		{"unknown top-level key", "foo: 1\n" + valid + "  - image: docker:1\n",
			[]string{`1:1 unknown key "foo" in the target list; known keys: helper, helpers, go, targets`}},
		{"duplicate top-level key", valid + "  - image: docker:1\nhelper: {version: v0.12.0}\n",
			[]string{`5:1 key "helper" appears twice in the target list (first at line 1)`}},
		{"merge key", "<<: {go: golang:1}\n" + valid + "  - image: docker:1\n", []string{"1:1 merge keys (<<) are not supported"}},
		{"list as key", "? [a]\n: b\n" + valid + "  - image: docker:1\n", []string{"1:3 a key in the target list is a list"}},
		{"helper missing", "targets:\n  - image: docker:1\n", []string{"1:1 helper is missing; add `helper: {version: v0.12.0}`"}},
		{"helper is a string", "helper: v0.12.0\ntargets:\n  - image: docker:1\n", []string{"1:9 helper must be a mapping"}},
		{"helper version missing", "helper: {}\ntargets:\n  - image: docker:1\n", []string{"1:1 helper.version is missing"}},
		{"unknown key in helper", "helper:\n  version: v0.12.0\n  module: x\ntargets:\n  - image: docker:1\n",
			[]string{`3:3 unknown key "module" in helper; known keys: version`}},
		{"version without v", "helper: {version: 0.12.0}\ntargets: [{image: docker:1}]\n",
			[]string{`1:19 helper.version "0.12.0" is not a full semantic version; write it as a module version, e.g. v0.12.0`}},
		{"version latest", "helper: {version: latest}\ntargets: [{image: docker:1}]\n", []string{`1:19 helper.version "latest" is not a full semantic version`}},
		{"version shorthand", "helper: {version: v1}\ntargets: [{image: docker:1}]\n", []string{"1:19 helper.version \"v1\" is not a full semantic version; write it as a module version, e.g. v1.0.0"}},
		{"version is a float", "helper: {version: 1.0}\ntargets: [{image: docker:1}]\n", []string{`1:19 helper.version "1.0" is not a full semantic version`}},
		{"version is a list", "helper: {version: [v0.12.0]}\ntargets: [{image: docker:1}]\n", []string{"1:19 helper.version must be a string, not a list"}},
		{"version empty", "helper:\n  version:\ntargets: [{image: docker:1}]\n", []string{"2:11 helper.version is empty"}},
		{"go image bad", "go: Golang:1.26\n" + valid + "  - image: docker:1\n", []string{`1:5 go image "Golang:1.26": invalid reference format`}},
		{"go image a mapping", "go: {image: golang}\n" + valid + "  - image: docker:1\n", []string{"1:5 go must be a string, not a mapping"}},
		{"go image empty", "go: \"\"\n" + valid + "  - image: docker:1\n", []string{"1:5 go image is empty; write an image reference, e.g. golang:1.26"}},
		{"deep flow nesting", strings.Repeat("[", 20000), []string{"1:1 invalid YAML: exceeded max depth of 10000"}},
		{"deep block nesting", valid + strings.Repeat("- ", 20000) + "x\n", []string{"3:1 invalid YAML: exceeded max depth of 10000"}}, // yaml.v3 names the line the context began on
		{"targets missing", "helper: {version: v0.12.0}\n", []string{"1:1 targets is missing"}},
		{"targets empty list", "helper: {version: v0.12.0}\ntargets: []\n", []string{"2:1 targets: the list is empty; add at least one `- image: REF`"}},
		{"targets null", "helper: {version: v0.12.0}\ntargets:\n", []string{"2:1 targets: the list is empty"}},
		{"targets a mapping", "helper: {version: v0.12.0}\ntargets: {image: docker:1}\n", []string{"2:10 targets must be a list of {image, name, cgo, setup, platforms}"}},
		{"target is a string", valid + "  - docker:1\n", []string{"4:5 targets[0] must be a mapping {image, name, cgo, setup, platforms}"}},
		{"unknown key in target", valid + "  - image: docker:1\n    tag: x\n",
			[]string{`5:5 unknown key "tag" in targets[0]; known keys: image, name, cgo, setup, platforms`}},
		{"duplicate key in target", valid + "  - image: docker:1\n    image: docker:2\n", []string{`5:5 key "image" appears twice in targets[0] (first at line 4)`}},
		{"image missing", valid + "  - name: x\n", []string{"4:5 targets[0] has no image; add `image: REF`"}},
		{"image bad", valid + "  - image: Docker:1\n",
			[]string{`4:12 image "Docker:1": invalid reference format: repository name (library/Docker) must be lowercase`}},
		{"image is a number", valid + "  - image: 123\n", []string{`4:12 targets[0].image must be a string, but YAML reads 123 as a number; quote it: "123"`}},
		{"image with custom tag", valid + "  - image: !foo docker:1\n", []string{"4:12 targets[0].image is tagged !foo; write it as a plain string"}},
		{"image with binary tag", valid + "  - image: !!binary ZG9ja2VyOjE=\n", []string{"4:12 targets[0].image is tagged !!binary; write it as a plain string"}},
		{"image empty", valid + "  - image: \"\"\n", []string{"4:12 image is empty"}},
		{"name escapes", valid + "  - image: docker:1\n    name: ../x\n",
			[]string{`5:11 target name "../x" is not allowed; use letters, digits, '.', '_' and '-', starting with a letter or digit, so no name can escape the output directory`}},
		{"name with slash", valid + "  - image: docker:1\n    name: a/b\n", []string{`5:11 target name "a/b" is not allowed`}},
		{"name is a boolean", valid + "  - image: docker:1\n    name: true\n", []string{`5:11 targets[0].name must be a string, but YAML reads true as a boolean`}},
		{"name empty", valid + "  - image: docker:1\n    name: \"\"\n", []string{"5:11 targets[0].name is empty; remove it"}},
		{"name too long", valid + "  - image: docker:1\n    name: " + strings.Repeat("a", maxName+1) + "\n", []string{"5:11 target name \"aaa"}},
		{"derived names collide", valid + "  - image: docker:1\n  - image: docker.io/library/docker:1\n",
			[]string{`5:12 target name "docker_1" is used twice (first at line 4); set ` + "`name:`" + ` on one of them`}},
		{"explicit name collides with derived", valid + "  - image: docker:1\n  - image: alpine\n    name: docker_1\n",
			[]string{`6:11 target name "docker_1" is used twice (first at line 4)`}},
		{"alias to a bad name", valid + "  - image: docker:1\n    name: &n ../x\n  - image: alpine\n    name: *n\n",
			[]string{`5:11 target name "../x" is not allowed`, `7:11 target name "../x" is not allowed`}},
		{"cgo not a boolean", valid + "  - image: docker:1\n    cgo: yes\n", []string{`5:10 targets[0].cgo must be true or false, not a string "yes"`}},
		{"setup without cgo", valid + "  - image: docker:1\n    setup: [apk add gcc]\n", []string{"5:5 targets[0].setup runs only before a cgo compile"}},
		{"setup a string", valid + "  - image: docker:1\n    cgo: true\n    setup: apk add gcc\n", []string{"6:12 targets[0].setup must be a list of shell commands"}},
		{"setup entry empty", valid + "  - image: docker:1\n    cgo: true\n    setup: [\"\", \"x\"]\n", []string{"6:13 targets[0].setup[0] is empty"}},
		{"setup entry a list", valid + "  - image: docker:1\n    cgo: true\n    setup: [[a]]\n", []string{"6:13 targets[0].setup[0] must be a string, not a list"}},
		{"platforms a string", valid + "  - image: docker:1\n    platforms: linux/arm64\n", []string{"5:16 targets[0].platforms must be a list of platforms, e.g. [linux/amd64, linux/arm64]"}},
		{"platforms empty", valid + "  - image: docker:1\n    platforms: []\n", []string{"5:16 targets[0].platforms must be a list"}},
		{"platform without os", valid + "  - image: docker:1\n    platforms: [arm64]\n", []string{`5:17 targets[0].platforms[0]: platform "arm64" has no OS; write OS/ARCH[/VARIANT], e.g. linux/arm64`}},
		{"platform not linux", valid + "  - image: docker:1\n    platforms: [windows/amd64]\n", []string{`5:17 targets[0].platforms[0]: platform "windows/amd64" is not Linux`}},
		{"platform unknown", valid + "  - image: docker:1\n    platforms: [linux/amd64/v2/x]\n", []string{`5:17 targets[0].platforms[0]: platform "linux/amd64/v2/x": `}},
		{"architecture misspelt", valid + "  - image: docker:1\n    platforms: [linux/amd46]\n", []string{`5:17 targets[0].platforms[0]: platform "linux/amd46": Go does not build for Linux on "amd46"; write one of linux/386, linux/amd64`}},
		{"name ends in .buildinfo", valid + "  - image: docker:1\n    name: x.buildinfo\n", []string{`5:11 target name "x.buildinfo" ends in .buildinfo`}},
		{"name ends in .spdx.json", valid + "  - image: docker:1\n    name: x.SPDX.json\n", []string{`5:11 target name "x.SPDX.json" ends in .spdx.json`}},
		{"platform variant Go cannot build", valid + "  - image: docker:1\n    platforms: [linux/arm/v8]\n", []string{`5:17 targets[0].platforms[0]: platform "linux/arm/v8": Go builds arm variants v5, v6, v7 only`}},
		{"arm64 variant", valid + "  - image: docker:1\n    platforms: [linux/arm64/v9]\n", []string{`5:17 targets[0].platforms[0]: platform "linux/arm64/v9": Go builds arm64 without a variant; write linux/arm64`}},
		{"platform twice once normalized", valid + "  - image: docker:1\n    platforms: [linux/arm64, linux/aarch64]\n",
			[]string{"5:30 targets[0].platforms[1]: linux/arm64 is listed twice (first at line 5"}},
		{"platform file collides with a name", valid + "  - image: docker:1\n    name: a\n    platforms: [linux/amd64, linux/arm64]\n  - image: docker:2\n    name: a-linux-arm64\n",
			[]string{"6:30 target \"a\" on linux/arm64 writes docker-credential-ecr-login-a-linux-arm64, as target \"a-linux-arm64\" at line 7 does"}},
		{"platform file too long", valid + "  - image: docker:1\n    name: " + strings.Repeat("a", maxName-5) + "\n    platforms: [linux/amd64, linux/arm64]\n",
			[]string{"6:17 the file name of target", "6:30 the file name of target"}},
		{"every refusal, sorted", "helper: {version: 0.12.0}\nfoo: 1\ntargets:\n  - image: Docker:1\n    name: ../x\n  - {image: alpine, bar: 2}\n",
			[]string{
				`1:19 helper.version "0.12.0"`,
				`2:1 unknown key "foo"`,
				`4:12 image "Docker:1"`,
				`5:11 target name "../x"`,
				`6:21 unknown key "bar" in targets[1]`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Parse(file, []byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", l)
			}
			var errs ErrorList
			if !errors.As(err, &errs) {
				t.Fatalf("got %T %v, want ErrorList", err, err)
			}
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d refusals, want %d:\n%v", len(errs), len(tt.want), err)
			}
			for i, want := range tt.want {
				at, phrase, _ := strings.Cut(want, " ")
				got := errs[i].Error()
				if !strings.HasPrefix(got, file+":"+at+": ") || !strings.Contains(got, phrase) {
					t.Errorf("refusal %d:\n got %s\nwant %s:%s: ...%s...", i, got, file, at, phrase)
				}
				if strings.Contains(got, "\n") {
					t.Errorf("refusal %d spans lines: %q", i, got)
				}
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte(valid+"  - image: docker:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := Load(good)
	if err != nil || l.File != good || l.Targets[0].Name != "docker_1" {
		t.Fatalf("Load(good) = %+v, %v", l, err)
	}

	missing := filepath.Join(dir, "missing.yaml")
	_, err = Load(missing)
	var errs ErrorList
	if err == nil || errors.As(err, &errs) || !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "reading "+missing+": ") {
		t.Fatalf("Load(missing) = %v; want a wrapped read error", err)
	}
}

// TestParseAliasBomb checks that a "billion laughs" file is refused quickly:
// the walker never expands aliases below the fixed shape of a list.
func TestParseAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 30; i++ {
		b.WriteString("a" + strconv.Itoa(i) + ": &a" + strconv.Itoa(i) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + strconv.Itoa(i-1))
		}
		b.WriteString("]\n")
	}
	b.WriteString("helper: {version: v0.12.0}\ntargets: *a29\n")
	done := make(chan error, 1)
	go func() {
		_, err := Parse(file, []byte(b.String()))
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Parse accepted an alias bomb")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Parse did not return within 5s")
	}
}

func TestParseBuildOptions(t *testing.T) {
	l, err := Parse(file, []byte(valid+`  - image: gitlab/gitlab-runner:v13.2.1
    name: runner-cgo
    cgo: true
    setup:
      - apt-get update
      - apt-get install -y --no-install-recommends gcc libc6-dev
  - image: docker:19.03.12
    platforms: [linux/amd64, linux/aarch64, linux/arm/v6]
  - image: alpine:3
    platforms: [linux/arm64]
`))
	if err != nil {
		t.Fatal(err)
	}
	cgo := l.Targets[0]
	if !cgo.Cgo || len(cgo.Setup) != 2 || cgo.Setup[1] != "apt-get install -y --no-install-recommends gcc libc6-dev" || len(cgo.Platforms) != 0 {
		t.Errorf("cgo target: %+v", cgo)
	}
	var files, plats []string
	for _, b := range l.Binaries() {
		files = append(files, b.FileName())
		p := "default"
		if b.Platform != nil {
			p = platforms.Format(*b.Platform)
		}
		plats = append(plats, p)
	}
	wantFiles := []string{
		BinaryPrefix + "runner-cgo",
		BinaryPrefix + "docker_19.03.12-linux-amd64",
		BinaryPrefix + "docker_19.03.12-linux-arm64",
		BinaryPrefix + "docker_19.03.12-linux-arm-v6",
		BinaryPrefix + "alpine_3", // one platform keeps the plain name
	}
	if strings.Join(files, " ") != strings.Join(wantFiles, " ") {
		t.Errorf("files:\n got %q\nwant %q", files, wantFiles)
	}
	if got := strings.Join(plats, " "); got != "default linux/amd64 linux/arm64 linux/arm/v6 linux/arm64" {
		t.Errorf("platforms: %s", got)
	}
	if p := l.Targets[1].Platforms[1].Pos.String(); p != "targets.yaml:11:30" {
		t.Errorf("platform position %s", p)
	}
}
