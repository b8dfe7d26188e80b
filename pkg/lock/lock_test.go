package lock

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/targets"
)

func sample() *File {
	return &File{
		Helper:   Helper{Module: targets.HelperModule, Version: "v0.12.0", Sum: "h1:JFWXO6QPihCknDdnL6VaQE57km4ZKheHIGd9YiOGcTo=", Time: "2026-02-25T22:29:07Z"},
		Platform: "linux/amd64",
		Images: map[string]string{
			"docker.io/library/golang:1.26":      "sha256:2222222222222222222222222222222222222222222222222222222222222222",
			"docker.io/library/docker:19.03.12":  "sha256:1111111111111111111111111111111111111111111111111111111111111111",
			"docker.io/gitlab/gitlab-runner:v13": "sha256:3333333333333333333333333333333333333333333333333333333333333333",
		},
	}
}

func TestRoundTripIsStableAndSorted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "targets.yaml.lock")
	if err := sample().Write(path); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	text := string(data)
	a := strings.Index(text, "docker.io/gitlab")
	b := strings.Index(text, "docker.io/library/docker")
	c := strings.Index(text, "docker.io/library/golang")
	if !(a < b && b < c) {
		t.Errorf("images are not one sorted line each:\n%s", text)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := got.Marshal()
	if string(again) != text {
		t.Errorf("read and written again, the lock changed:\n%s\nvs\n%s", again, text)
	}
	if _, err := Read(filepath.Join(t.TempDir(), "none.lock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing lock: %v", err)
	}
	if _, err := Parse("x.lock", []byte("platform: linux/amd64\nplatforms: {linux/amd64: {a: b}}\n")); err == nil || !strings.Contains(err.Error(), "the lock's own platform") {
		t.Errorf("an entry for the lock's own platform under platforms: %v", err)
	}
	if _, err := Parse("x.lock", []byte("helper: {}\nimagez: {}\n")); err == nil {
		t.Error("an unknown key was accepted")
	}
	start := time.Now()
	if _, err := Read("/dev/zero"); err == nil || !strings.Contains(err.Error(), "more than 4194304 bytes") || time.Since(start) > 5*time.Second {
		t.Errorf("an endless lock: %v after %v", err, time.Since(start))
	}
}

func TestCheckNamesTheEntry(t *testing.T) {
	list, err := targets.Parse("targets.yaml", []byte("helper: {version: v0.12.0}\ntargets:\n  - image: docker:19.03.12\n  - image: alpine:3.12\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = sample().Check("targets.yaml.lock", list)
	if err == nil || !strings.Contains(err.Error(), "images: docker.io/library/alpine:3.12 is not locked") {
		t.Errorf("err %v", err)
	}
	bad := sample()
	bad.Images["docker.io/library/golang:1.26"] = "sha256:not-hex"
	list.Targets = list.Targets[:1]
	if err := bad.Check("targets.yaml.lock", list); err == nil || !strings.Contains(err.Error(), `images: docker.io/library/golang:1.26: "sha256:not-hex" is not a digest`) {
		t.Errorf("a damaged digest: %v", err)
	}
	// The locked commit reaches -ldflags: anything but a hash is refused.
	for commit, ok := range map[string]bool{
		"0123456789abcdef0123456789abcdef01234567": true,
		strings.Repeat("ab", 32):                   true,
		"0 -X main.x=y":                            false,
		"0123456":                                  false,
		"0123456789ABCDEF0123456789ABCDEF01234567": false,
	} {
		c := sample()
		c.Helper.Commit = commit
		err := c.Check("targets.yaml.lock", list)
		if got := err == nil; got != ok {
			t.Errorf("commit %q: %v", commit, err)
		}
		if err != nil && !strings.Contains(err.Error(), "is not a commit hash") {
			t.Errorf("commit %q: %v", commit, err)
		}
	}
	// The locked time dates the exported files: a hand-edited one that is
	// not RFC 3339, or that a file time cannot hold, is refused by name.
	for when, want := range map[string]string{
		"":                          "",
		"1970-01-01T00:00:00Z":      "",
		"2262-04-11T23:47:16Z":      "",
		"2026-02-25T23:29:07+01:00": "",
		"2262-04-11T23:47:17Z":      `helper: time "2262-04-11T23:47:17Z" is not between 1970-01-01 and 2262-04-11T23:47:16Z; it dates the exported files, whose times would wrap`,
		"9999-12-31T23:59:59Z":      "is not between",
		"1969-12-31T23:59:59Z":      "is not between",
		"2026-02-25":                `helper: time "2026-02-25" is not an RFC 3339 time such as 2026-02-25T22:29:07Z; it dates the exported files`,
		"-1 -X main.x=y":            "is not an RFC 3339 time",
	} {
		c := sample()
		c.Helper.Time = when
		err := c.Check("targets.yaml.lock", list)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "targets.yaml.lock does not match")) {
			t.Errorf("time %q: got %v, want %q", when, err, want)
		}
	}
	list.Helpers[0].Version = "v0.11.0"
	if err := sample().Check("targets.yaml.lock", list); err == nil || !strings.Contains(err.Error(), "helper: "+targets.HelperModule+"@v0.11.0 is not locked") {
		t.Errorf("err %v", err)
	}
}

func TestDiff(t *testing.T) {
	old, new := sample(), sample()
	new.Images["docker.io/library/docker:19.03.12"] = "sha256:9999"
	delete(new.Images, "docker.io/gitlab/gitlab-runner:v13")
	d := strings.Join(Diff(old, new), "\n")
	for _, want := range []string{"docker.io/library/docker:19.03.12 moved from sha256:1111", "docker.io/gitlab/gitlab-runner:v13 no longer used"} {
		if !strings.Contains(d, want) {
			t.Errorf("diff lacks %q:\n%s", want, d)
		}
	}
	if len(Diff(sample(), sample())) != 0 {
		t.Error("equal locks differ")
	}
}

// Images on a target's other platforms are pinned per platform; the lock's
// own platform keeps the flat form.
func TestPlatforms(t *testing.T) {
	list, err := targets.Parse("targets.yaml", []byte("helper: {version: v0.12.0}\ntargets:\n  - image: docker:19.03.12\n    platforms: [linux/amd64, linux/arm64]\n"))
	if err != nil {
		t.Fatal(err)
	}
	f := sample()
	err = f.Check("targets.yaml.lock", list)
	if err == nil || !strings.Contains(err.Error(), "images: docker.io/library/docker:19.03.12 (linux/arm64) is not locked") {
		t.Fatalf("err %v", err)
	}
	arm := graph.ImageKey{Ref: "docker.io/library/docker:19.03.12", Platform: "linux/arm64"}
	f.Set(arm, "sha256:4444444444444444444444444444444444444444444444444444444444444444")
	if err := f.Check("targets.yaml.lock", list); err != nil {
		t.Fatal(err)
	}
	data, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse("x.lock", data)
	if err != nil {
		t.Fatal(err)
	}
	if back.Digest(arm) != f.Digest(arm) || back.Resolved()[arm].Digest != "sha256:4444444444444444444444444444444444444444444444444444444444444444" {
		t.Errorf("arm64 entry lost:\n%s", data)
	}
	if !strings.Contains(string(data), "platforms:\n  linux/arm64:\n    docker.io/library/docker:19.03.12: sha256:4444") {
		t.Errorf("unexpected form:\n%s", data)
	}
	if d := Diff(sample(), back); len(d) != 1 || !strings.Contains(d[0], "docker.io/library/docker:19.03.12 (linux/arm64) added") {
		t.Errorf("diff %q", d)
	}
}

// A list of one helper keeps helper: (the locks written before several
// helpers); one of several pins each module version under helpers:, and a
// helper whose module version is not pinned makes the lock stale.
func TestSeveralHelperModules(t *testing.T) {
	one := sample()
	data, err := one.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "\nhelper:\n") || strings.Contains(string(data), "helpers:") {
		t.Errorf("a lock of one helper:\n%s", data)
	}
	gcr := Helper{Module: "github.com/GoogleCloudPlatform/docker-credential-gcr/v2", Version: "v2.2.1", Sum: "h1:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB=", Time: "2025-01-01T00:00:00Z"}
	two := sample()
	two.SetModules([]Helper{one.Helper, gcr})
	data, err = two.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "\nhelper:\n") || !strings.Contains(string(data), "helpers:") {
		t.Errorf("a lock of two helpers:\n%s", data)
	}
	back, err := Parse("targets.yaml.lock", data)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Modules(), []Helper{one.Helper, gcr}) {
		t.Errorf("read back %+v", back.Modules())
	}
	list, err := targets.Parse("targets.yaml", []byte("helpers:\n  ecr-login: {version: v0.12.0}\n  gcr: {version: v2.2.1}\ntargets:\n  - image: docker:19.03.12\n"))
	if err != nil {
		t.Fatal(err)
	}
	var opt graph.Options
	back.Apply(&opt)
	for _, h := range list.Helpers {
		if !back.Locked(h) || opt.Locked[graph.ModuleKey(h)].Sum == "" {
			t.Errorf("%s not locked", graph.ModuleKey(h))
		}
	}
	if err := one.Check("targets.yaml.lock", list); err == nil || !strings.Contains(err.Error(), "helper: "+gcr.Module+"@v2.2.1 is not locked") {
		t.Errorf("a lock without gcr: %v", err)
	}
}

// Two helpers of one module version (pass and secretservice are both in
// docker-credential-helpers) are one pin: the lock of their list holds it
// once, and it locks both.
func TestHelpersOfOneModuleAreOnePin(t *testing.T) {
	list, err := targets.Parse("targets.yaml", []byte("helpers:\n  pass: {version: v0.9.13}\n  secretservice: {version: v0.9.13}\ntargets:\n  - image: docker:19.03.12\n"))
	if err != nil {
		t.Fatal(err)
	}
	if a, b := graph.ModuleKey(list.Helpers[0]), graph.ModuleKey(list.Helpers[1]); a != b {
		t.Fatalf("pass is %s, secretservice %s: one module version", a, b)
	}
	f := sample()
	f.SetModules([]Helper{{Module: "github.com/docker/docker-credential-helpers", Version: "v0.9.13", Sum: "h1:CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC=", Time: "2025-01-01T00:00:00Z"}})
	data, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(data), "docker-credential-helpers") != 1 {
		t.Errorf("the pin is written other than once:\n%s", data)
	}
	for _, h := range list.Helpers {
		if !f.Locked(h) {
			t.Errorf("%s is not locked by its module's pin", h.Name)
		}
	}
	if err := f.Check("targets.yaml.lock", list); err != nil && strings.Contains(err.Error(), "not locked") {
		t.Errorf("one pin for both: %v", err)
	}
}

// A lock that pins a module two ways is refused, not read one way here
// and another there.
func TestParseRefusesAmbiguousPins(t *testing.T) {
	const pin = "{module: x.com/y, version: v1.0.0, sum: \"h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}"
	for name, doc := range map[string]string{
		"both forms": "helper: " + pin + "\nhelpers: [" + pin + "]\nplatform: linux/amd64\nimages: {}\n",
		"twice":      "helpers: [" + pin + ", " + pin + "]\nplatform: linux/amd64\nimages: {}\n",
	} {
		if _, err := Parse("targets.yaml.lock", []byte(doc)); err == nil || !strings.Contains(err.Error(), "run llbgen lock") {
			t.Errorf("%s: %v, want a refusal", name, err)
		}
	}
}
