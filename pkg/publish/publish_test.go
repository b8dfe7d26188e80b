package publish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/targets"
)

func parse(t *testing.T, yaml string) *targets.List {
	t.Helper()
	l, err := targets.Parse("targets.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

var (
	amd64 = ocispecs.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = ocispecs.Platform{OS: "linux", Architecture: "arm64"}
)

// daemonPlatform is platformOf for a daemon on amd64.
func daemonPlatform(b targets.Binary) ocispecs.Platform {
	if b.Platform != nil {
		return *b.Platform
	}
	return amd64
}

// publishYAML has a multi-platform target, a target on the daemon's
// platform, and one on a platform with a variant.
const publishYAML = `helper: {version: v0.12.0}
targets:
  - image: docker:19.03.12
    name: multi
    platforms: [linux/arm64, linux/amd64]
  - image: alpine:3.12
  - image: gitlab/gitlab-runner:v13.2.1
    platforms: [linux/arm/v7]
publish:
  images: "registry.example.com/ci/{name}:{version}"
  helpers: "registry.example.com/ci/helpers:{version}"
  credHelpers: [public.ecr.aws]
`

func formats(ps []ocispecs.Platform) []string {
	var out []string
	for _, p := range ps {
		out = append(out, platforms.Format(p))
	}
	return out
}

func binaryNames(bs []targets.Binary) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.Name)
	}
	return out
}

func TestImages(t *testing.T) {
	l := parse(t, publishYAML)
	imgs, err := Images(l, daemonPlatform)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != len(l.Targets)+1 {
		t.Fatalf("%d images, want one per target and the helpers image", len(imgs))
	}
	every := map[string]bool{}
	for i := range l.Targets {
		img, tg := imgs[i], &l.Targets[i]
		if img.Target != tg || img.Helpers() || img.What() != "job image of "+tg.Name {
			t.Errorf("image %d is %s, want target %s's", i, img.What(), tg.Name)
		}
		name, err := l.JobImageName(*tg)
		if err != nil || img.Name != name {
			t.Errorf("%s: name %q, want %q (%v)", tg.Name, img.Name, name, err)
		}
		if got, want := binaryNames(img.Binaries), binaryNames(tg.Binaries()); !slices.Equal(got, want) {
			t.Errorf("%s: binaries %v, want %v", tg.Name, got, want)
		}
		if len(img.Platforms) != len(img.Binaries) {
			t.Fatalf("%s: %d platforms for %d binaries", tg.Name, len(img.Platforms), len(img.Binaries))
		}
		for j, b := range img.Binaries {
			want := platforms.Format(platforms.Normalize(daemonPlatform(b)))
			if got := platforms.Format(img.Platforms[j]); got != want {
				t.Errorf("%s: platform %d is %s, want %s", b.Name, j, got, want)
			}
			every[want] = true
		}
	}
	if multi := imgs[0]; !slices.Equal(formats(multi.Platforms), []string{"linux/arm64", "linux/amd64"}) {
		t.Errorf("the multi-platform target's image: platforms %v, want its own, in its order", formats(multi.Platforms))
	}

	h := imgs[len(imgs)-1]
	if !h.Helpers() || h.What() != "helpers image" || h.Name != "registry.example.com/ci/helpers:v0.12.0" {
		t.Errorf("last image %s %q, want the helpers image", h.What(), h.Name)
	}
	if got, want := binaryNames(h.Binaries), binaryNames(l.Binaries()); !slices.Equal(got, want) {
		t.Errorf("helpers image: binaries %v, want %v", got, want)
	}
	want := slices.Sorted(func(yield func(string) bool) {
		for p := range every {
			if !yield(p) {
				return
			}
		}
	})
	if got := formats(h.Platforms); !slices.Equal(got, want) {
		t.Errorf("helpers image: platforms %v, want the sorted union %v", got, want)
	}
}

// Platforms that normalize alike are one platform of the helpers image.
func TestImagesNormalizesPlatforms(t *testing.T) {
	l := parse(t, `helper: {version: v0.12.0}
targets:
  - {image: docker:1, platforms: [linux/arm64]}
  - {image: docker:2}
publish: {helpers: "r.example.com/h"}
`)
	arm64v8 := ocispecs.Platform{OS: "linux", Architecture: "aarch64"}
	imgs, err := Images(l, func(b targets.Binary) ocispecs.Platform {
		if b.Platform != nil {
			return *b.Platform
		}
		return arm64v8 // the daemon's, as it may spell it
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 || !imgs[0].Helpers() {
		t.Fatalf("%d images, want the helpers image alone", len(imgs))
	}
	if got := formats(imgs[0].Platforms); !slices.Equal(got, []string{"linux/arm64"}) {
		t.Errorf("platforms %v, want linux/arm64 once", got)
	}
}

func TestImagesNone(t *testing.T) {
	for name, yaml := range map[string]string{
		"no publish block": "helper: {version: v0.12.0}\ntargets: [{image: docker:1}, {image: docker:2, platforms: [linux/arm64, linux/amd64]}]\n",
	} {
		imgs, err := Images(parse(t, yaml), daemonPlatform)
		if err != nil || len(imgs) != 0 {
			t.Errorf("%s: %d images, %v", name, len(imgs), err)
		}
	}
	only := func(yaml string) []Image {
		t.Helper()
		imgs, err := Images(parse(t, yaml), daemonPlatform)
		if err != nil {
			t.Fatal(err)
		}
		return imgs
	}
	if imgs := only("helper: {version: v0.12.0}\ntargets: [{image: docker:1}, {image: docker:2}]\npublish: {images: \"r.example.com/{name}\"}\n"); len(imgs) != 2 || imgs[0].Helpers() || imgs[1].Helpers() {
		t.Errorf("images alone: %d images", len(imgs))
	}
	if imgs := only("helper: {version: v0.12.0}\ntargets: [{image: docker:1}, {image: docker:2}]\npublish: {helpers: \"r.example.com/h\"}\n"); len(imgs) != 1 || !imgs[0].Helpers() || len(imgs[0].Binaries) != 2 {
		t.Errorf("helpers alone: %d images", len(imgs))
	}
}

func TestSelect(t *testing.T) {
	l := parse(t, publishYAML)
	imgs, err := Images(l, daemonPlatform)
	if err != nil {
		t.Fatal(err)
	}
	what := func(imgs []Image) []string {
		var out []string
		for _, img := range imgs {
			out = append(out, img.What())
		}
		return out
	}
	all, err := Select(imgs, nil)
	if err != nil || !slices.Equal(what(all), what(imgs)) {
		t.Errorf("no names: %v, %v; want every image", what(all), err)
	}
	got, err := Select(imgs, []string{HelpersImage, "multi", l.Targets[1].Name})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"helpers image", "job image of multi", "job image of " + l.Targets[1].Name}; !slices.Equal(what(got), want) {
		t.Errorf("selected %v, want %v", what(got), want)
	}
	for _, names := range [][]string{{"nope"}, {"multi", "nope"}, {"Multi"}, {"multi-linux-arm64"}, {""}} {
		got, err := Select(imgs, names)
		if err == nil {
			t.Errorf("%q: %v, want an error", names, what(got))
			continue
		}
		bad := names[len(names)-1]
		if !strings.Contains(err.Error(), `"`+bad+`"`) || !strings.Contains(err.Error(), `"helpers"`) {
			t.Errorf("%q: %v; want it to name %q and how to name the helpers image", names, err, bad)
		}
	}
	// A list with no helpers image has none to select.
	noHelpers := parse(t, "helper: {version: v0.12.0}\ntargets: [{image: docker:1}]\npublish: {images: \"r.example.com/{name}\"}\n")
	imgs, err = Images(noHelpers, daemonPlatform)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Select(imgs, []string{HelpersImage}); err == nil {
		t.Error("the helpers image selected from a list that has none")
	}
}

// BUG: a target may be named "helpers"; Select(["helpers"]) then gives its
// job image, and the helpers image cannot be selected (llbgen build
// --image helpers, the frontend's PUBLISH=helpers).
func TestSelectTargetNamedHelpers(t *testing.T) {
	l, err := targets.Parse("targets.yaml", []byte(`helper: {version: v0.12.0}
targets: [{image: docker:1, name: helpers}]
publish: {images: "r.example.com/{name}", helpers: "r.example.com/h"}
`))
	if err != nil {
		return // refused: fine
	}
	imgs, err := Images(l, daemonPlatform)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Select(imgs, []string{HelpersImage})
	if err != nil || !got[0].Helpers() {
		t.Errorf("Select(helpers) = %s, %v; want the helpers image", got[0].What(), err)
	}
}

// partsFixture is a list, its graph and what a daemon resolved for it.
type partsFixture struct {
	list         *targets.List
	g            *graph.Graph
	images       map[graph.ImageKey]graph.Resolved
	reads        []string // platforms ReadFile was asked for
	hashed       []string // what Hash was asked for: "job PATH" or "delivered PATH"
	passwd       []byte
	dockerConfig []byte // the target image's own config.json; nil for none
	inputs       Inputs
	configs      map[string][]byte // resolved config by platform
}

func newParts(t *testing.T, canRun func(ocispecs.Platform) bool) *partsFixture {
	t.Helper()
	f := &partsFixture{
		list:    parse(t, publishYAML),
		images:  map[graph.ImageKey]graph.Resolved{},
		passwd:  []byte("root:x:0:0:root:/root:/bin/sh\nci:x:1000:1001::/home/ci:/bin/sh\n"),
		configs: map[string][]byte{},
	}
	for _, tg := range f.list.Targets {
		for _, b := range tg.Binaries() {
			p := platforms.Normalize(daemonPlatform(b))
			img := ocispecs.Image{Platform: p, Config: ocispecs.ImageConfig{User: "ci", Entrypoint: []string{"/entry-" + p.Architecture}}}
			cfg, err := json.Marshal(img)
			if err != nil {
				t.Fatal(err)
			}
			f.configs[tg.Name+" "+platforms.Format(p)] = cfg
			f.images[graph.ImageKey{Ref: tg.Image.Full, Platform: platforms.Format(p)}] = graph.Resolved{Digest: digest.FromString(tg.Image.Full + platforms.Format(p)), Config: cfg}
		}
	}
	g, err := graph.Define(f.list, graph.Options{Platform: amd64, Images: f.images, CanRun: canRun})
	if err != nil {
		t.Fatal(err)
	}
	f.g = g
	epoch := int64(1700000000)
	f.inputs = Inputs{
		List: f.list, Graph: g, Images: f.images, Epoch: &epoch,
		Marshal: func(st llb.State, p ocispecs.Platform) (*pb.Definition, error) {
			def, err := st.Marshal(context.Background(), llb.Platform(p))
			if err != nil {
				return nil, err
			}
			return def.ToPB(), nil
		},
		ReadFile: func(st llb.State, p ocispecs.Platform, name string) ([]byte, error) {
			switch {
			case name == "/etc/passwd":
				f.reads = append(f.reads, platforms.Format(p))
				return f.passwd, nil
			case strings.HasSuffix(name, "/.docker/config.json") && isJobImage(t, st):
				// Read back from the job image: what was written.
				return graph.MergeDockerConfig(f.dockerConfig, f.list.Publish.CredHelpers)
			case strings.HasSuffix(name, "/.docker/config.json"):
				return f.dockerConfig, nil // the image's own, merged into
			}
			t.Errorf("ReadFile(%s)", name)
			return nil, nil
		},
		// The job image's helper reads as the delivered binary of its
		// platform.
		Hash: func(st llb.State, p ocispecs.Platform, name string) (string, error) {
			if isJobImage(t, st) {
				f.hashed = append(f.hashed, "job "+name)
			} else {
				f.hashed = append(f.hashed, "delivered "+name)
			}
			return "sha256 of the binary for " + platforms.Format(p), nil
		},
	}
	return f
}

// isJobImage reports whether st is a job image: a file op on an image.
func isJobImage(t *testing.T, st llb.State) bool {
	t.Helper()
	def, err := st.Marshal(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var last pb.Op
	if err := last.Unmarshal(def.Def[len(def.Def)-1]); err != nil {
		t.Fatal(err)
	}
	for _, dt := range def.Def {
		if string(digest.FromBytes(dt)) == last.Inputs[0].Digest {
			var op pb.Op
			if err := op.Unmarshal(dt); err != nil {
				t.Fatal(err)
			}
			return op.GetFile() != nil && op.GetFile().Actions[0].GetRm().GetPath() == graph.HelperPath
		}
	}
	return false
}

// headFile is the file op that makes a definition's output.
func headFile(t *testing.T, def *pb.Definition) *pb.FileOp {
	t.Helper()
	var last pb.Op
	if err := last.Unmarshal(def.Def[len(def.Def)-1]); err != nil {
		t.Fatal(err)
	}
	want := last.Inputs[0].Digest
	for _, dt := range def.Def {
		if string(digest.FromBytes(dt)) == want {
			var op pb.Op
			if err := op.Unmarshal(dt); err != nil {
				t.Fatal(err)
			}
			if op.GetFile() == nil {
				t.Fatalf("the output is made by %v, no file op", op.Op)
			}
			return op.GetFile()
		}
	}
	t.Fatal("no output op")
	return nil
}

func TestPartsJobImage(t *testing.T) {
	f := newParts(t, nil)
	imgs, err := Images(f.list, daemonPlatform)
	if err != nil {
		t.Fatal(err)
	}
	multi := imgs[0]
	parts, err := Parts(f.inputs, multi)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 {
		t.Fatalf("%d parts, want one per platform", len(parts))
	}
	if !slices.Equal(f.reads, []string{"linux/arm64", "linux/amd64"}) {
		t.Errorf("/etc/passwd read on %v, want each platform's image", f.reads)
	}
	for i, part := range parts {
		p := platforms.Format(part.Platform)
		if p != platforms.Format(multi.Platforms[i]) {
			t.Errorf("part %d on %s, want %s", i, p, platforms.Format(multi.Platforms[i]))
		}
		base := f.configs["multi "+p]
		if string(part.BaseConfig) != string(base) {
			t.Errorf("%s: base config %s, want the resolved %s", p, part.BaseConfig, base)
		}
		var img ocispecs.Image
		if err := json.Unmarshal(part.Config, &img); err != nil {
			t.Fatal(err)
		}
		r := f.images[graph.ImageKey{Ref: multi.Target.Image.Full, Platform: p}]
		if img.Architecture != part.Platform.Architecture || img.Config.User != "ci" || !slices.Equal(img.Config.Entrypoint, []string{"/entry-" + part.Platform.Architecture}) {
			t.Errorf("%s: config %+v is not its platform's target image's", p, img)
		}
		if img.Config.Labels[ocispecs.AnnotationBaseImageDigest] != r.Digest.String() || img.Config.Labels[LabelVersion] != "v0.12.0" {
			t.Errorf("%s: labels %v", p, img.Config.Labels)
		}
		if img.Created == nil || img.Created.Unix() != *f.inputs.Epoch {
			t.Errorf("%s: created %v, want the epoch", p, img.Created)
		}
		h := img.History[len(img.History)-1]
		if !strings.Contains(h.CreatedBy, graph.HelperPath) || !strings.Contains(h.CreatedBy, "/home/ci/.docker/config.json") {
			t.Errorf("%s: history %q", p, h.CreatedBy)
		}
		fo := headFile(t, part.Definition)
		mk := fo.Actions[len(fo.Actions)-1].GetMkfile()
		if mk == nil || mk.Path != "/home/ci/.docker/config.json" || mk.Owner.GetUser().GetByID() != 1000 || mk.Owner.GetGroup().GetByID() != 1001 {
			t.Errorf("%s: config.json written as %v", p, mk)
		}
	}
}

func TestPartsHelpersImage(t *testing.T) {
	f := newParts(t, nil)
	imgs, err := Images(f.list, daemonPlatform)
	if err != nil {
		t.Fatal(err)
	}
	h := imgs[len(imgs)-1]
	parts, err := Parts(f.inputs, h)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != len(h.Platforms) || len(f.reads) != 0 {
		t.Fatalf("%d parts for %d platforms, /etc/passwd read %d times", len(parts), len(h.Platforms), len(f.reads))
	}
	out := f.inputs.Marshal
	for i, part := range parts {
		if platforms.Format(part.Platform) != platforms.Format(h.Platforms[i]) || part.BaseConfig != nil {
			t.Errorf("part %d: %s, base config %s", i, platforms.Format(part.Platform), part.BaseConfig)
		}
		want, err := out(f.g.Output, part.Platform)
		if err != nil {
			t.Fatal(err)
		}
		if string(want.Def[len(want.Def)-1]) != string(part.Definition.Def[len(part.Definition.Def)-1]) {
			t.Errorf("%s: the part is not the graph's output", platforms.Format(part.Platform))
		}
		var img ocispecs.Image
		if err := json.Unmarshal(part.Config, &img); err != nil {
			t.Fatal(err)
		}
		if img.Architecture != part.Platform.Architecture || img.Variant != part.Platform.Variant || img.Config.Labels[LabelVersion] != "v0.12.0" {
			t.Errorf("%s: config %s", platforms.Format(part.Platform), part.Config)
		}
	}
}

func TestPartsUnresolved(t *testing.T) {
	f := newParts(t, nil)
	imgs, err := Images(f.list, daemonPlatform)
	if err != nil {
		t.Fatal(err)
	}
	multi := imgs[0]
	delete(f.images, graph.ImageKey{Ref: multi.Target.Image.Full, Platform: "linux/amd64"})
	_, err = Parts(f.inputs, multi)
	if err == nil || !strings.Contains(err.Error(), "linux/amd64") || !strings.Contains(err.Error(), multi.Target.Image.Ref) || !strings.Contains(err.Error(), "job image of multi") {
		t.Errorf("Parts with an unresolved image: %v", err)
	}
	f.passwd = []byte("root:x:0:0:root:/root:/bin/sh\n") // no ci
	_, err = Parts(f.inputs, imgs[1])
	if err == nil || !strings.Contains(err.Error(), `USER "ci"`) {
		t.Errorf("Parts with USER ci not in /etc/passwd: %v", err)
	}
}

// BUG: a binary the daemon could not run is delivered unverified
// (Graph.Unverified); Parts still makes its job image, whose history says
// "verified in this image". llbgen build refuses it (pkg/daemon's
// notReady) but the frontend's PUBLISH=<target> does not.
func TestPartsRefuseUnverified(t *testing.T) {
	f := newParts(t, func(p ocispecs.Platform) bool { return p.Architecture == "amd64" })
	imgs, err := Images(f.list, daemonPlatform)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.g.Unverified) == 0 {
		t.Fatal("nothing unverified")
	}
	if _, err := Parts(f.inputs, imgs[0]); err == nil {
		t.Errorf("a job image of %v", f.g.Unverified)
	}
}

// A job image whose helper or config.json does not read back as written
// (the image's own symlinks displaced one with the other) is refused; the
// helper is held against the binary that landed, else the delivered one.
func TestPartsCheckWhatWasWritten(t *testing.T) {
	f := newParts(t, nil)
	imgs, err := Images(f.list, daemonPlatform)
	if err != nil {
		t.Fatal(err)
	}
	var want, wantLanded []string
	for _, b := range imgs[0].Binaries {
		want = append(want, "delivered /"+b.FileName(), "job "+graph.HelperPath)
		wantLanded = append(wantLanded, "job "+graph.HelperPath)
	}
	if _, err := Parts(f.inputs, imgs[0]); err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	if slices.Sort(f.hashed); !slices.Equal(f.hashed, want) {
		t.Errorf("hashed %q, want %q", f.hashed, want)
	}

	// The landed binary's hash, when known, is what the helper is held to.
	f.hashed = nil
	f.inputs.Landed = func(b targets.Binary) string {
		return "sha256 of the binary for " + platforms.Format(*b.Platform)
	}
	if _, err := Parts(f.inputs, imgs[0]); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.hashed, wantLanded) {
		t.Errorf("hashed %q, want %q", f.hashed, wantLanded)
	}
	f.inputs.Landed = func(targets.Binary) string { return "sha256 of what landed, rebuilt since" }
	if _, err := Parts(f.inputs, imgs[0]); err == nil || !strings.Contains(err.Error(), "is not the verified binary") {
		t.Errorf("a helper that is not what landed: %v", err)
	}
	f.inputs.Landed = nil

	hash := f.inputs.Hash
	for _, c := range []struct {
		name string
		hash string
		err  error
		want string
	}{
		{"another file", "sha256 of something else", nil, "is not the verified binary once written there (another file)"},
		{"a directory", "", fmt.Errorf("%s: %w", graph.HelperPath, ErrNotRegular), "is not the verified binary once written there (" + graph.HelperPath + ": no regular file)"},
		{"absent", "", errors.New("rpc error: code = Unknown desc = stat /usr/local/bin/docker-credential-ecr-login: no such file or directory"), "is not the verified binary once written there"},
		{"a lost connection", "", errors.New("rpc error: code = Unavailable desc = connection closed"), "reading back " + graph.HelperPath + ": rpc error"},
	} {
		f.inputs.Hash = func(st llb.State, p ocispecs.Platform, name string) (string, error) {
			if name == graph.HelperPath {
				return c.hash, c.err
			}
			return hash(st, p, name)
		}
		if _, err := Parts(f.inputs, imgs[0]); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		} else if c.name == "a lost connection" && strings.Contains(err.Error(), "fix the image") {
			t.Errorf("%s blames the image: %v", c.name, err)
		}
	}
	f.inputs.Hash = hash

	read := f.inputs.ReadFile
	for _, c := range []struct {
		name string
		data []byte
		err  error
		want string
	}{
		{"the helper's bytes", []byte("the helper's bytes"), nil, "is not the config.json written there (another file)"},
		{"absent", nil, nil, "is not the config.json written there (no such file)"},
		{"a lost connection", nil, context.Canceled, "reading back /home/ci/.docker/config.json: context canceled"},
	} {
		f.inputs.ReadFile = func(st llb.State, p ocispecs.Platform, name string) ([]byte, error) {
			if strings.HasSuffix(name, "/.docker/config.json") && isJobImage(t, st) {
				return c.data, c.err
			}
			return read(st, p, name)
		}
		if _, err := Parts(f.inputs, imgs[0]); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("config.json %s: %v, want %q", c.name, err, c.want)
		}
	}
}
