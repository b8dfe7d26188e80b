package daemon

import (
	"testing"
)

// When the connection that makes images fails, every image asked for gets
// a line saying so, under its own name; one that already has a result
// keeps it.
func TestEveryImageSaysWhyItWasNotPublished(t *testing.T) {
	r := newFakeRunOf(t, &fakeDaemon{}, testYAML+"publish: {images: \"reg.example.com/ci/{name}:ecr\", helpers: \"reg.example.com/ci/helpers:{version}\"}\n")
	if _, err := r.run(t); err != nil {
		t.Fatal(err)
	}
	r.s.opt.Publish = Publish{Push: true}
	pushed := ImageResult{Name: "reg.example.com/ci/docker_19.03.12:ecr", What: "job image of docker_19.03.12", Done: "pushed"}
	r.s.images = []ImageResult{pushed}
	r.s.notPublished(r.s.prepared, "not published: the daemon went away")
	want := map[string]string{
		"reg.example.com/ci/docker_19.03.12:ecr": "",
		"reg.example.com/ci/twin:ecr":            "not published: the daemon went away",
		"reg.example.com/ci/multi:ecr":           "not published: the daemon went away",
		"reg.example.com/ci/runner-cgo:ecr":      "not published: the daemon went away",
		"reg.example.com/ci/helpers:v0.12.0":     "not published: the daemon went away",
	}
	if len(r.s.images) != len(want) {
		t.Errorf("%d image results, want %d: %+v", len(r.s.images), len(want), r.s.images)
	}
	for _, img := range r.s.images {
		cause, ok := want[img.Name]
		if !ok || img.Cause != cause || img.What == "" {
			t.Errorf("%+v, want cause %q", img, cause)
		}
		delete(want, img.Name)
	}
	for name := range want {
		t.Errorf("no result for %s", name)
	}
	if r.s.images[0] != pushed {
		t.Errorf("the pushed image's result changed: %+v", r.s.images[0])
	}
}
