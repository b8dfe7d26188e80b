package targets

import (
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// hex64 is a sha256 digest's hex.
const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// The names a good publish block gives, for each placeholder and image kind.
func TestPublishNames(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		jobs    []string // JobImageName of each target, in order
		helpers string
	}{
		{
			name: "the example: repo and tag",
			yaml: `helper: {version: v0.12.0}
targets:
  - image: docker:19.03.12
  - image: gitlab/gitlab-runner:v13.2.1
  - image: registry:5000/a/b:c
publish:
  images: "registry.example.com/ci/{repo}:{tag}-ecr-login"
  helpers: "registry.example.com/ci/ecr-login-helpers:{version}"
  credHelpers: [123456789012.dkr.ecr.us-east-1.amazonaws.com, public.ecr.aws]
`,
			jobs: []string{
				"registry.example.com/ci/docker:19.03.12-ecr-login",
				"registry.example.com/ci/gitlab/gitlab-runner:v13.2.1-ecr-login",
				"registry.example.com/ci/a/b:c-ecr-login",
			},
			helpers: "registry.example.com/ci/ecr-login-helpers:v0.12.0",
		},
		{
			name: "no tag is latest, a digest alone its first 12 hex digits",
			yaml: `helper: {version: v0.13.0-rc.1}
targets:
  - image: alpine
  - image: alpine@sha256:` + hex64 + `
  - image: docker.io/library/alpine:3.20@sha256:` + hex64 + `
publish: {images: "reg.example.com/{repo}:{tag}-{version}"}
`,
			jobs: []string{
				"reg.example.com/alpine:latest-v0.13.0-rc.1",
				"reg.example.com/alpine:sha256-0123456789ab-v0.13.0-rc.1",
				"reg.example.com/alpine:3.20-v0.13.0-rc.1",
			},
		},
		{
			name: "name in the path, no tag: latest; a docker.io path keeps its namespace",
			yaml: `helper: {version: v0.12.0}
targets:
  - image: gitlab/gitlab-runner:v13.2.1
    name: runner-cgo
    cgo: true
  - image: docker.io/library/x/y:1
publish: {images: "localhost:5000/{name}"}
`,
			jobs: []string{"localhost:5000/runner-cgo:latest", "localhost:5000/y_1:latest"},
		},
		{
			name: "no domain is docker.io; library/ of a nested path is kept",
			yaml: `helper: {version: v0.12.0}
targets:
  - image: docker.io/library/x/y:1
publish: {images: "{repo}:{tag}-ecr"}
`,
			jobs: []string{"docker.io/library/x/y:1-ecr"},
		},
		{
			name: "capitals in the tag are fine",
			yaml: `helper: {version: v0.12.0}
targets:
  - image: docker:V1
  - {image: docker:1, name: Runner}
publish: {images: "reg.example.com/ci/docker:{name}"}
`,
			jobs: []string{"reg.example.com/ci/docker:docker_V1", "reg.example.com/ci/docker:Runner"},
		},
		{
			name: "one target on several platforms is one image",
			yaml: `helper: {version: v0.12.0}
targets:
  - image: docker:19.03.12
    platforms: [linux/amd64, linux/arm64]
publish: {images: "reg.example.com/ci/fixed:1", helpers: "reg.example.com/ci/helpers"}
`,
			jobs:    []string{"reg.example.com/ci/fixed:1"},
			helpers: "reg.example.com/ci/helpers:latest",
		},
		{
			name: "helpers only",
			yaml: `helper: {version: v0.12.0}
targets: [{image: docker:1}, {image: docker:2}]
publish: {helpers: "reg.example.com/h:{version}"}
`,
			jobs:    []string{"", ""},
			helpers: "reg.example.com/h:v0.12.0",
		},
		{
			name: "no publish block",
			yaml: valid + "  - image: docker:1\n",
			jobs: []string{""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Parse(file, []byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Targets) != len(tt.jobs) {
				t.Fatalf("%d targets, want %d", len(l.Targets), len(tt.jobs))
			}
			for i, tg := range l.Targets {
				got, err := l.JobImageName(tg)
				if err != nil || got != tt.jobs[i] {
					t.Errorf("JobImageName(%s) = %q, %v; want %q", tg.Name, got, err, tt.jobs[i])
				}
			}
			if got, err := l.HelpersImageName(); err != nil || got != tt.helpers {
				t.Errorf("HelpersImageName() = %q, %v; want %q", got, err, tt.helpers)
			}
			if err := l.CheckPublish(); err != nil {
				t.Errorf("CheckPublish of a parsed list: %v", err)
			}
		})
	}
}

func TestPublishDecoded(t *testing.T) {
	data := `helper: {version: v0.12.0}
targets:
  - image: docker:19.03.12

publish:
  images: "registry.example.com/ci/{repo}:{tag}-ecr-login"
  helpers: registry.example.com/ci/ecr-login-helpers:{version}
  credHelpers:
    - 123456789012.dkr.ecr.us-east-1.amazonaws.com
    - public.ecr.aws
    - localhost:5000
    - "[::1]:5000"
# the end
`
	l, err := Parse(file, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	p := l.Publish
	want := []string{"123456789012.dkr.ecr.us-east-1.amazonaws.com", "public.ecr.aws", "localhost:5000", "[::1]:5000"}
	if p.Images != "registry.example.com/ci/{repo}:{tag}-ecr-login" || p.Helpers != "registry.example.com/ci/ecr-login-helpers:{version}" || !slices.Equal(p.CredHelpers, want) {
		t.Errorf("publish %+v", p)
	}
	for _, c := range []struct {
		what      string
		got, want string
	}{
		{"images", p.ImagesPos.String(), "targets.yaml:6:11"},
		{"helpers", p.HelpersPos.String(), "targets.yaml:7:12"},
		{"credHelpers", p.CredHelpersPos.String(), "targets.yaml:9:5"},
		{"lines", p.Lines.String(), "5-12"},
		{"target lines", l.Targets[0].Lines.String(), "3"},
	} {
		if c.got != c.want {
			t.Errorf("%s at %s, want %s", c.what, c.got, c.want)
		}
	}
	if l, err := Parse(file, []byte(valid+"  - image: docker:1\n")); err != nil || l.Publish.Lines != (Lines{}) || l.Publish.Images != "" || l.Publish.CredHelpers != nil {
		t.Errorf("a list without publish: %+v, %v", l, err)
	}
}

// pub is a list of the targets docker:19.03.12 (line 4), gitlab-runner
// (line 5) and runner-cgo, the same image (line 6), then publish (line 7).
const pub = valid + `  - image: docker:19.03.12
  - image: gitlab/gitlab-runner:v13.2.1
  - {image: gitlab/gitlab-runner:v13.2.1, name: runner-cgo, cgo: true}
publish:
`

func TestPublishRefusals(t *testing.T) {
	long := strings.Repeat("n", maxName)
	tests := []struct {
		name string
		yaml string
		want []string // "LINE:COL phrase", one per refusal, in order
	}{
		{"publish empty", pub, []string{"7:1 publish is empty; name the images to publish, e.g. `publish: {images: \"registry.example.com/ci/{repo}:{tag}-ecr-login\"}`, or remove it"}},
		{"publish a string", pub[:len(pub)-1] + " registry.example.com/ci\n", []string{"7:10 publish must be a mapping; write it as `publish: {images:"}},
		{"publish names nothing", pub[:len(pub)-1] + " {}\n", []string{"7:1 publish names no image; add images (one job image per target"}},
		{"unknown key", pub + "  images: reg.example.com/{name}\n  image: x\n",
			[]string{`9:3 unknown key "image" in publish; known keys: images, helpers, credHelpers`}},
		{"key twice", pub + "  images: reg.example.com/{name}\n  images: reg.example.com/x/{name}\n",
			[]string{`9:3 key "images" appears twice in publish (first at line 8); keep one`}},
		{"images empty", pub + "  images: \"\"\n", []string{"8:11 publish.images is empty; write an image name template, e.g. registry.example.com/ci/{repo}:{tag}-ecr-login, or remove it"}},
		{"images null, helpers good", pub + "  images:\n  helpers: reg.example.com/h\n", []string{"8:10 publish.images is empty"}},
		{"images a number", pub + "  images: 12\n", []string{`8:11 publish.images must be a string, but YAML reads 12 as a number; quote it: "12"`}},
		{"images a list", pub + "  images: [a]\n", []string{"8:11 publish.images must be a string, not a list"}},
		{"images too long", pub + "  images: reg.example.com/" + strings.Repeat("a", MaxImageRefBytes) + "\n",
			[]string{"8:11 publish.images is 1040 bytes, more than the 1024 allowed"}},
		{"unknown placeholder", pub + "  images: reg.example.com/{repo}:{tag}-{Name}-{x}-{x}\n", []string{
			`8:11 publish.images has "{Name}", which is no placeholder here; write only {name}, {repo}, {tag}, {version}`,
			`8:11 publish.images has "{x}", which is no placeholder here`,
		}},
		{"target placeholder in helpers", pub + "  helpers: reg.example.com/helpers:{tag}\n",
			[]string{`8:12 publish.helpers has "{tag}", which is no placeholder here; the helpers image is one for all targets, so write only {version}`}},
		{"capitals in the template's path", pub + "  images: reg.example.com/CI/{name}\n",
			[]string{`8:11 publish.images "reg.example.com/CI/{name}" has capitals in its repository path, which must be lower-case; write the path in lower case`}},
		{"capitals from a name in the path", valid + "  - {image: docker:1, name: Runner}\n  - image: docker:2\npublish: {images: \"reg.example.com/ci/{name}:{tag}\"}\n",
			[]string{`6:19 publish.images gives "reg.example.com/ci/Runner:1" for targets[0] (Runner), which is not an image reference: invalid reference format: repository name (ci/Runner) must be lowercase; an image's repository path is lower-case, and {name} is "Runner"; move it into the tag (after the last ':'), or set a lower-case ` + "`name:`" + ` on the target`}},
		{"a target named helpers", valid + "  - {image: docker:19.03.12, name: helpers}\npublish: {images: \"reg.example.com/{name}\", helpers: \"reg.example.com/h\"}\n",
			[]string{`4:36 targets[0] (helpers) is named helpers, the word --publish and PUBLISH use for the helpers image`}},
		{"the image it is built from", valid + "  - image: docker:19.03.12\npublish: {images: \"{repo}:{tag}\"}\n",
			[]string{`5:19 publish.images gives docker.io/library/docker:19.03.12 for targets[0] (docker_19.03.12), which is the image targets[0] (docker_19.03.12) is built from: a push would replace it`}},
		{"the tag of a target pinned by digest", valid + "  - image: reg.example.com/ci/docker:24@sha256:" + strings.Repeat("a", 64) + "\npublish: {images: \"reg.example.com/{repo}:{tag}\"}\n",
			[]string{`5:19 publish.images gives reg.example.com/ci/docker:24 for targets[0] (docker_24), which is the image targets[0] (docker_24) is built from`}},
		{"another target's image", valid + "  - {image: alpine:3.12, name: \"24\"}\n  - image: docker:24\npublish: {images: \"docker:{name}\"}\n",
			[]string{`6:19 publish.images gives docker.io/library/docker:24 for targets[0] (24), which is the image targets[1] (docker_24) is built from`}},
		{"the image it is built from, its registry in other case", valid + "  - image: Reg.Example.com/ci/docker:24\npublish: {images: \"reg.example.COM/{repo}:{tag}\"}\n",
			[]string{`5:19 publish.images gives reg.example.COM/ci/docker:24 for targets[0] (docker_24), which is the image targets[0] (docker_24) is built from`}},
		{"helpers as a target's image, its registry in other case", valid + "  - image: reg.example.com/ci/docker:24\npublish: {helpers: \"REG.example.com/ci/docker:24\"}\n",
			[]string{`5:20 publish.helpers gives REG.example.com/ci/docker:24, which is the image targets[0] (docker_24) is built from`}},
		{"helpers as a target's image, Docker Hub in capitals", valid + "  - image: docker:24\npublish: {helpers: \"DOCKER.IO/docker:24\"}\n",
			[]string{`5:20 publish.helpers gives DOCKER.IO/docker:24, which is the image targets[0] (docker_24) is built from`}},
		{"helpers as a target's image, index.docker.io in capitals", valid + "  - image: docker:24\npublish: {helpers: \"INDEX.DOCKER.IO/library/docker:24\"}\n",
			[]string{`5:20 publish.helpers gives INDEX.DOCKER.IO/library/docker:24, which is the image targets[0] (docker_24) is built from`}},
		{"helpers as the go image", valid + "  - image: docker:24\npublish: {helpers: \"golang:1.26\"}\n",
			[]string{`5:20 publish.helpers gives docker.io/library/golang:1.26, which is the go image: a push would replace it`}},
		{"helpers as a target's image", valid + "  - image: docker:24\npublish: {helpers: \"docker:24\"}\n",
			[]string{`5:20 publish.helpers gives docker.io/library/docker:24, which is the image targets[0] (docker_24) is built from`}},
		{"capitals from a tag in the path", valid + "  - image: docker:V1\npublish: {images: \"reg.example.com/{tag}\"}\n",
			[]string{`5:19 publish.images gives "reg.example.com/V1" for targets[0] (docker_V1), which is not an image reference: invalid reference format: repository name (V1) must be lowercase; an image's repository path is lower-case, and {tag} is "V1"; move it into the tag (after the last ':')`}},
		{"no reference", pub + "  images: \"reg.example.com/ci//{name}\"\n", []string{
			`8:11 publish.images gives "reg.example.com/ci//docker_19.03.12" for targets[0] (docker_19.03.12), which is not an image reference: invalid reference format; write a template that gives a name ` + "`docker push`" + ` takes, e.g. registry.example.com/ci/{repo}:{tag}-ecr-login`,
			`8:11 publish.images gives "reg.example.com/ci//gitlab-runner_v13.2.1" for targets[1]`,
			`8:11 publish.images gives "reg.example.com/ci//runner-cgo" for targets[2]`,
		}},
		{"stray brace", pub + "  helpers: \"reg.example.com/h:{version\"\n",
			[]string{`8:12 publish.helpers gives "reg.example.com/h:{version", which is not an image reference: invalid reference format`}},
		{"digest in the template", valid + "  - image: docker:1\npublish: {images: \"reg.example.com/x@sha256:" + hex64 + "\"}\n",
			[]string{`5:19 …" (89 bytes) for targets[0] (docker_1), with a digest; images are published by tag, so write a tag (or none, for :latest) instead of @DIGEST`}},
		{"digest in helpers", pub + "  helpers: \"reg.example.com/h:{version}@sha256:" + hex64 + "\"\n",
			[]string{`8:12 publish.helpers gives "reg.example.com/h:v0.12.0@sha256:0123456789abcdef0123456789a…" (97 bytes), with a digest`}},
		{"a tag too long", valid + "  - {image: docker:1, name: " + long[:130] + "}\npublish: {images: \"reg.example.com/x:{name}\"}\n",
			[]string{`5:19 …" (148 bytes) for targets[0] (` + long[:130] + `), which is not an image reference: invalid reference format;`}},
		{"a name too long", valid + "  - {image: docker:1, name: " + long + "}\npublish: {images: \"reg.example.com/{name}/{name}/{name}/{name}/{name}/{name}:1\"}\n",
			[]string{fmt.Sprintf(`5:19 publish.images gives a name of %d bytes for targets[0] (%s), more than the 1024 an image reference may have; use fewer placeholders`, len("reg.example.com/:1")+5+6*maxName, long)}},
		{"two targets, one image", pub + "  images: \"registry.example.com/ci/{repo}:{tag}-ecr-login\"\n",
			[]string{"8:11 targets[1] (gitlab-runner_v13.2.1) and targets[2] (runner-cgo) would both publish registry.example.com/ci/gitlab/gitlab-runner:v13.2.1-ecr-login; put {name} in publish.images so that each target has its own image"}},
		{"every target, one image", pub + "  images: registry.example.com/ci/x\n  helpers: registry.example.com/ci/y\n",
			[]string{"8:11 targets[0] (docker_19.03.12), targets[1] (gitlab-runner_v13.2.1) and 1 more would all publish registry.example.com/ci/x:latest"}},
		{"helpers named as a job image", valid + "  - image: docker:1\n  - image: docker:2\npublish:\n  images: reg.example.com/ci:{tag}\n  helpers: reg.example.com/ci:2\n",
			[]string{"8:12 publish.helpers gives reg.example.com/ci:2, as publish.images does for targets[1] (docker_2); give the helpers image a name of its own"}},
		{"helpers named as a job image once normalized", valid + "  - image: docker:1\npublish:\n  images: docker.io/library/ci\n  helpers: ci:latest\n",
			[]string{"7:12 publish.helpers gives docker.io/library/ci:latest, as publish.images does for targets[0] (docker_1)"}},
		{"credHelpers without images", pub + "  helpers: reg.example.com/h\n  credHelpers: [public.ecr.aws]\n",
			[]string{"9:16 publish.credHelpers is written into the job images' config.json, and publish has no images; add `images: registry.example.com/ci/{repo}:{tag}-ecr-login` or remove credHelpers"}},
		{"credHelpers a string", pub + "  images: r.example.com/{name}\n  credHelpers: public.ecr.aws\n",
			[]string{"9:16 publish.credHelpers must be a list of registries, e.g. [123456789012.dkr.ecr.us-east-1.amazonaws.com, public.ecr.aws]; remove it to write no config.json"}},
		{"credHelpers empty", pub + "  images: r.example.com/{name}\n  credHelpers: []\n", []string{"9:16 publish.credHelpers must be a list"}},
		{"credHelpers too many", pub + "  images: r.example.com/{name}\n  credHelpers: [" + strings.Repeat("a.example.com, ", MaxCredHelpers) + "b.example.com]\n",
			[]string{"9:16 publish.credHelpers has 101 entries, more than the 100 allowed; list only the registries the jobs pull from"}},
		{"credHelpers entries", pub + "  images: r.example.com/{name}\n  credHelpers:\n    - https://public.ecr.aws\n    - public.ecr.aws/x\n    - \"a b\"\n    - \"\"\n    - public.ecr.aws\n    - -a.example.com\n    - public.ecr.aws\n", []string{
			`10:7 publish.credHelpers[0] "https://public.ecr.aws" has a scheme; write the registry's host[:port] alone, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com`,
			`11:7 publish.credHelpers[1] "public.ecr.aws/x" has a path; credential helpers are chosen by registry, so write its host[:port] alone`,
			`12:7 publish.credHelpers[2] "a b" is not a registry host[:port]; write one, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com`,
			`13:7 publish.credHelpers[3] is empty; write a registry host`,
			`15:7 publish.credHelpers[5] "-a.example.com" is not a registry host[:port]`,
			`16:7 publish.credHelpers[6]: "public.ecr.aws" is listed twice (first at line 14); keep one`,
		}},
		{"credHelpers entry not a string", pub + "  images: r.example.com/{name}\n  credHelpers: [public.ecr.aws, 1, {a: b}]\n", []string{
			`9:33 publish.credHelpers[1] must be a string, but YAML reads 1 as a number`,
			`9:36 publish.credHelpers[2] must be a string, not a mapping`,
		}},
		{"credHelpers entry too long", pub + "  images: r.example.com/{name}\n  credHelpers: [" + strings.Repeat("a", MaxValueBytes+1) + "]\n",
			[]string{`9:17 publish.credHelpers[0] is 256 bytes, more than the 255 allowed`}},
		{"refused images refuse their credHelpers enough", pub + "  images: 1\n  credHelpers: [x]\n",
			[]string{"8:11 publish.images must be a string"}},
		{"names are rendered only for a sound list", "helper: {version: v1}\ntargets: [{image: docker:1}]\npublish: {images: \"reg.example.com/x\", helpers: \"reg.example.com/x:{name}\"}\n", []string{
			`1:19 helper.version "v1" is not a full semantic version`,
			`3:49 publish.helpers has "{name}", which is no placeholder here`,
		}},
		{"a bad target: no names rendered", valid + "  - image: Docker:1\n  - image: docker:2\npublish: {images: \"reg.example.com/x\"}\n",
			[]string{`4:12 image "Docker:1"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := refusals(t, []byte(tt.yaml))
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d refusals, want %d:\n%v", len(errs), len(tt.want), errs)
			}
			for i, want := range tt.want {
				at, phrase, _ := strings.Cut(want, " ")
				got := errs[i].Error()
				if !strings.HasPrefix(got, file+":"+at+": ") || !strings.Contains(got, phrase) {
					t.Errorf("refusal %d:\n got %s\nwant %s:%s: ...%s...", i, got, file, at, phrase)
				}
			}
		})
	}
}

// The one-line refusal of the brief, whole.
func TestPublishCollisionMessage(t *testing.T) {
	errs := refusals(t, []byte(pub+"  images: registry.example.com/ci/{repo}:{tag}\n"))
	want := "targets.yaml:8:11: targets[1] (gitlab-runner_v13.2.1) and targets[2] (runner-cgo) would both publish registry.example.com/ci/gitlab/gitlab-runner:v13.2.1; put {name} in publish.images so that each target has its own image"
	if len(errs) != 1 || errs[0].Error() != want {
		t.Errorf("got %v\nwant %s", errs, want)
	}
}

// JobImageName and HelpersImageName refuse with an *Error at the template.
func TestPublishNameErrors(t *testing.T) {
	l, err := Parse(file, []byte(valid+"  - image: docker:1\npublish: {images: \"reg.example.com/{name}\", helpers: \"reg.example.com/h:{version}\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	l.Helpers[0].Version = "v2.0.0+incompatible" // as no checked list has it
	_, err = l.HelpersImageName()
	var e *Error
	if !errors.As(err, &e) || e.Pos != l.Publish.HelpersPos || !strings.Contains(e.Msg, `a tag cannot hold the '+' of version "v2.0.0+incompatible", so leave {version} out`) {
		t.Errorf("HelpersImageName: %v", err)
	}
	tg := l.Targets[0]
	tg.Name = "Upper"
	_, err = l.JobImageName(tg)
	if !errors.As(err, &e) || e.Pos != l.Publish.ImagesPos || !strings.HasPrefix(e.Error(), `targets.yaml:5:19: publish.images gives "reg.example.com/Upper" for target "Upper", which is not an image reference: invalid reference format: repository name (Upper) must be lowercase; an image's repository path is lower-case, and {name} is "Upper"`) {
		t.Errorf("JobImageName: %v", err)
	}
	// A hand-made list is checked as a parsed one.
	hand := &List{File: "x", Helpers: []Helper{{Version: "v0.12.0"}}, Targets: []Target{{Name: "a", Image: Image{Ref: "docker:1"}}},
		Publish: Publish{Images: "r.example.com/{x}", CredHelpers: []string{"a/b"}}}
	var errs ErrorList
	if err := hand.CheckPublish(); !errors.As(err, &errs) || len(errs) != 2 ||
		!strings.Contains(errs[0].Msg, `publish.images has "{x}"`) || !strings.Contains(errs[1].Msg, `publish.credHelpers[0] "a/b" has a path`) {
		t.Errorf("CheckPublish of a hand-made list: %v", err)
	}
	if _, err := hand.JobImageName(hand.Targets[0]); err == nil || !strings.Contains(err.Error(), `publish.images has "{x}", which is no placeholder here; write only {name}, {repo}, {tag}, {version}`) {
		t.Errorf("JobImageName with an unknown placeholder: %v", err)
	}
}

// SetHelperVersion checks the names again, as {version} is in them, and
// leaves the list as it was on a refusal.
func TestSetHelperVersionChecksPublish(t *testing.T) {
	l, err := Parse(file, []byte(valid+"  - image: docker:1\npublish:\n  images: reg.example.com/ci:{version}\n  helpers: reg.example.com/h:{version}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetHelperVersion("v0.13.0", "--helper-version"); err != nil {
		t.Fatal(err)
	}
	h, _ := l.HelpersImageName()
	j, _ := l.JobImageName(l.Targets[0])
	if h != "reg.example.com/h:v0.13.0" || j != "reg.example.com/ci:v0.13.0" {
		t.Errorf("after --helper-version v0.13.0: helpers %q, job %q", h, j)
	}
	err = l.SetHelperVersion("v2.0.0+incompatible", "--helper-version")
	var errs ErrorList
	if !errors.As(err, &errs) || len(errs) != 2 || errs[0].Pos != l.Publish.ImagesPos || errs[1].Pos != l.Publish.HelpersPos {
		t.Fatalf("a version no tag can hold: %v", err)
	}
	if !strings.HasPrefix(err.Error(), `targets.yaml:6:11: publish.images gives "reg.example.com/ci:v2.0.0+incompatible" for targets[0] (docker_1), which is not an image reference`) {
		t.Errorf("refusal %v", err)
	}
	if l.Helpers[0].Version != "v0.13.0" {
		t.Errorf("the refused version was kept: %q", l.Helpers[0].Version)
	}
	for _, b := range l.Binaries() {
		if b.Helper.Version != "v0.13.0" {
			t.Errorf("after the refusal, %s builds %s %s", b.Name, b.Helper.Name, b.Helper.Version)
		}
	}
	// Names that no longer collide once the version changes are fine.
	l, err = Parse(file, []byte(valid+"  - image: docker:1\npublish:\n  images: reg.example.com/ci:{version}\n  helpers: reg.example.com/ci:v1.0.0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetHelperVersion("v1.0.0", "--helper-version"); err == nil || !strings.Contains(err.Error(), "publish.helpers gives reg.example.com/ci:v1.0.0, as publish.images does for targets[0] (docker_1)") {
		t.Errorf("helpers named as the job image once the version changes: %v", err)
	}
}

// FromImages keeps the file's publish block and checks it for the flags'
// targets.
func TestFromImagesPublish(t *testing.T) {
	base, err := Parse(file, []byte(valid+"  - image: docker:1\npublish: {images: \"reg.example.com/{repo}:{tag}\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := FromImages(base, []ImageArg{{Image: "alpine:3"}, {Image: "gitlab/gitlab-runner:v13.2.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if j, err := l.JobImageName(l.Targets[1]); err != nil || j != "reg.example.com/gitlab/gitlab-runner:v13.2.1" {
		t.Errorf("JobImageName = %q, %v", j, err)
	}
	_, err = FromImages(base, []ImageArg{{Image: "alpine:3", Name: "a"}, {Image: "alpine:3", Name: "b"}})
	if want := "targets.yaml:5:19: --image 1 (a) and --image 2 (b) would both publish reg.example.com/alpine:3"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("two flags, one image: %v; want %s", err, want)
	}
}

// Rendering names for a list at its limits stays within the parse bounds,
// whether the names are good or all refused.
func TestPublishLimits(t *testing.T) {
	good := targetsOf(MaxTargets, func(i int) string {
		return fmt.Sprintf("  - {image: registry.example.com/team/image:%d, platforms: [linux/amd64, linux/arm64, linux/arm/v7, linux/386]}\n", i)
	}) + "publish:\n  images: \"registry.example.com/ci/{repo}:{tag}-{version}\"\n  helpers: registry.example.com/ci/helpers:{version}\n  credHelpers: [" + hosts(MaxCredHelpers) + "]\n"
	l, err := parseBounded(t, []byte(good))
	if err != nil {
		t.Fatalf("%.2000v", err)
	}
	if len(l.Publish.CredHelpers) != MaxCredHelpers {
		t.Errorf("%d credHelpers", len(l.Publish.CredHelpers))
	}
	// A template of 1,024 bytes, nearly all {name}, for 1,000 names of 180 bytes.
	tmpl := "r.example.com/x:" + strings.Repeat("{name}", (MaxImageRefBytes-16)/len(phName))
	bad := targetsOf(MaxTargets, func(i int) string {
		return fmt.Sprintf("  - {image: a:%d, name: %s%05d}\n", i, strings.Repeat("n", maxName-5), i)
	}) + "publish: {images: \"" + tmpl + "\"}\n"
	errs := refusals(t, []byte(bad))
	if len(errs) != MaxTargets || !regexp.MustCompile(`publish.images gives a name of \d+ bytes for targets\[0\]`).MatchString(errs[0].Msg) {
		t.Errorf("%d refusals, the first %v", len(errs), errs[0])
	}
}

// hosts is n distinct registry hosts, comma-separated.
func hosts(n int) string {
	h := make([]string, n)
	for i := range h {
		h[i] = fmt.Sprintf("%d.dkr.ecr.us-east-1.amazonaws.com", 100000000000+i)
	}
	return strings.Join(h, ", ")
}

// The list in the package documentation parses, publish block and all.
func TestPackageDocList(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "targets.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	var list strings.Builder
	for _, line := range strings.Split(f.Doc.Text(), "\n") {
		if rest, ok := strings.CutPrefix(line, "\t"); ok {
			list.WriteString(rest + "\n")
		}
	}
	l, err := Parse(file, []byte(list.String()))
	if err != nil {
		t.Fatalf("%v\n%s", err, list.String())
	}
	var names []string
	for _, tg := range l.Targets {
		n, err := l.JobImageName(tg)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	h, err := l.HelpersImageName()
	want := []string{
		"registry.example.com/ci/docker:docker_19.03.12-ecr-login",
		"registry.example.com/ci/gitlab/gitlab-runner:gitlab-runner_v13.2.1-ecr-login",
		"registry.example.com/ci/gitlab/gitlab-runner:runner-cgo-ecr-login",
		"registry.example.com/ci/docker:docker-multi-ecr-login",
	}
	if !slices.Equal(names, want) || h != "registry.example.com/ci/ecr-login-helpers:v0.12.0" || err != nil || len(l.Publish.CredHelpers) != 2 {
		t.Errorf("job images %q, helpers %q, %v, credHelpers %q", names, h, err, l.Publish.CredHelpers)
	}
}
