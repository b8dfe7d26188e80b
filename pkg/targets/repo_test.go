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
	if l.Helper.Version != "v0.12.0" || l.Go.Full != "docker.io/library/golang:1.26" {
		t.Errorf("helper %q go %q", l.Helper.Version, l.Go.Full)
	}
}
