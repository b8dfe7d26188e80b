package targets

import (
	"slices"
	"testing"
)

// The repository's own list names the images the tool was first made for.
func TestRepositoryList(t *testing.T) {
	l, err := Load("../../targets.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tg := range l.Targets {
		names = append(names, tg.Name)
	}
	want := []string{"docker_19.03.12", "gitlab-runner_v13.2.1", "gitlab-runner_alpine-v13.2.1"}
	if !slices.Equal(names, want) {
		t.Errorf("names %q, want %q", names, want)
	}
	if l.Helpers[0].Version != "v0.12.0" || l.Go.Full != "docker.io/library/golang:1.26" {
		t.Errorf("helper %q go %q", l.Helpers[0].Version, l.Go.Full)
	}
}

// The demo list of `make demo-matrix` has a cgo target and two platforms.
func TestDemoCompatList(t *testing.T) {
	l, err := Load("../../hack/demo/compat.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, b := range l.Binaries() {
		files = append(files, b.Name)
	}
	want := []string{"runner-cgo", "docker_19.03.12", "gitlab-runner_v13.2.1", "docker-multi-linux-amd64", "docker-multi-linux-arm64"}
	if !slices.Equal(files, want) || !l.Targets[0].Cgo || len(l.Targets[0].Setup) != 2 {
		t.Errorf("binaries %q, want %q; cgo target %+v", files, want, l.Targets[0])
	}
}
