package frontend

import (
	"errors"
	"strings"
	"testing"

	"github.com/llbgen/llbgen/pkg/plan"
	"github.com/llbgen/llbgen/pkg/targets"
)

func TestSelect(t *testing.T) {
	list, err := targets.Parse("targets.yaml", []byte(`helper: {version: v0.12.0}
targets:
  - image: docker:19.03.12
  - image: gitlab/gitlab-runner:v13.2.1
  - image: gitlab/gitlab-runner:alpine-v13.2.1
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    map[string]string
		names   string
		version string
		err     string
	}{
		{"no args", nil, "docker_19.03.12 gitlab-runner_v13.2.1 gitlab-runner_alpine-v13.2.1", "v0.12.0", ""},
		{"subset in given order", map[string]string{"TARGETS": " gitlab-runner_v13.2.1 , docker_19.03.12,"}, "gitlab-runner_v13.2.1 docker_19.03.12", "v0.12.0", ""},
		{"duplicates once", map[string]string{"TARGETS": "docker_19.03.12,docker_19.03.12"}, "docker_19.03.12", "v0.12.0", ""},
		{"unknown name", map[string]string{"TARGETS": "docker_19.03.13"}, "", "", `build-arg:TARGETS names "docker_19.03.13", which is not a target of targets.yaml; known targets: docker_19.03.12, gitlab-runner_alpine-v13.2.1, gitlab-runner_v13.2.1`},
		{"version", map[string]string{"HELPER_VERSION": "v0.11.0"}, "docker_19.03.12 gitlab-runner_v13.2.1 gitlab-runner_alpine-v13.2.1", "v0.11.0", ""},
		{"bad version", map[string]string{"HELPER_VERSION": "0.11"}, "", "", "build-arg:HELPER_VERSION:1:1: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Select(list, tc.args)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tg := range got.Targets {
				names = append(names, tg.Name)
			}
			if strings.Join(names, " ") != tc.names || got.Helpers[0].Version != tc.version {
				t.Errorf("got %q %s, want %q %s", names, got.Helpers[0].Version, tc.names, tc.version)
			}
		})
	}
	if len(list.Targets) != 3 || list.Helpers[0].Version != "v0.12.0" {
		t.Error("Select changed the list it was given")
	}
}

// PUBLISH narrows the build to a job image's target; the helpers image is
// every binary of the list under its one name, so with TARGETS it is
// refused, as is a job image of a target TARGETS leaves out.
func TestPublishArgs(t *testing.T) {
	got, err := publishArgs(map[string]string{ArgPublish: "docker_19.03.12"})
	if err != nil || got[ArgTargets] != "docker_19.03.12" {
		t.Errorf("PUBLISH=docker_19.03.12: %v, %v", got, err)
	}
	if got, err := publishArgs(map[string]string{ArgPublish: "helpers"}); err != nil || got[ArgTargets] != "" {
		t.Errorf("PUBLISH=helpers: %v, %v", got, err)
	}
	for _, args := range []map[string]string{
		{ArgPublish: "helpers", ArgTargets: "a"},
		{ArgPublish: "b", ArgTargets: "a"},
	} {
		var pe *plan.Error
		if _, err := publishArgs(args); !errors.As(err, &pe) || !pe.BadInput {
			t.Errorf("%v: %v, want bad input", args, err)
		}
	}
}
