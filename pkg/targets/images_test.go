package targets

import (
	"errors"
	"strings"
	"testing"
)

func TestFromImages(t *testing.T) {
	base, err := Parse(file, []byte("helper: {version: v0.11.0}\ngo: golang:1.25\ntargets: [{image: busybox}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		base    *List
		args    []ImageArg
		version string
		goFull  string
		names   []string
	}{
		{
			name:    "nil base uses defaults",
			args:    []ImageArg{{Image: "docker:19.03.12"}, {Image: "gitlab/gitlab-runner:v13.2.1", Name: "runner"}},
			version: DefaultHelperVersion,
			goFull:  "docker.io/library/golang:1.26",
			names:   []string{"docker_19.03.12", "runner"},
		},
		{
			name:    "base keeps helper and go, replaces targets",
			base:    base,
			args:    []ImageArg{{Image: "alpine:3"}},
			version: "v0.11.0",
			goFull:  "docker.io/library/golang:1.25",
			names:   []string{"alpine_3"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := FromImages(tt.base, tt.args)
			if err != nil {
				t.Fatalf("FromImages: %v", err)
			}
			if l.Helpers[0].Version != tt.version || l.Go.Full != tt.goFull {
				t.Errorf("got version %q go %q, want %q %q", l.Helpers[0].Version, l.Go.Full, tt.version, tt.goFull)
			}
			var names []string
			for _, tg := range l.Targets {
				names = append(names, tg.Name)
			}
			if strings.Join(names, " ") != strings.Join(tt.names, " ") {
				t.Errorf("got names %q, want %q", names, tt.names)
			}
		})
	}
	// The file's go: is where a refusal of the go image points.
	l, err := FromImages(base, []ImageArg{{Image: "alpine:3"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Pos{File: file, Line: 2, Col: 1}); l.GoKey != want || l.GoLines != (Lines{2, 2}) || l.File != file {
		t.Errorf("go: at %v (lines %v) in %s, want %v (lines 2) in %s", l.GoKey, l.GoLines, l.File, want, file)
	}
	if len(base.Targets) != 1 || base.Targets[0].Name != "busybox_latest" {
		t.Errorf("FromImages changed its base: %+v", base.Targets)
	}
}

func TestFromImagesRefusals(t *testing.T) {
	tests := []struct {
		name string
		args []ImageArg
		want []string // "LINE:COL phrase", in order
	}{
		{"no images", nil, []string{"1:1 no images given"}},
		{"bad reference", []ImageArg{{Image: "docker:1"}, {Image: "Docker:1"}},
			[]string{`2:1 image "Docker:1": invalid reference format`}},
		{"empty image", []ImageArg{{Image: ""}}, []string{"1:1 image is empty"}},
		{"duplicate derived names", []ImageArg{{Image: "docker:1"}, {Image: "alpine"}, {Image: "docker.io/library/docker:1"}},
			[]string{`3:1 target name "docker_1" is used twice (first from --image 1); add --name after one of them`}},
		{"duplicate explicit names", []ImageArg{{Image: "docker:1", Name: "x"}, {Image: "alpine", Name: "x"}},
			[]string{`2:1 target name "x" is used twice`}},
		{"bad name", []ImageArg{{Image: "docker:1", Name: "../../etc/x"}},
			[]string{`1:1 target name "../../etc/x" is not allowed`}},
		{"bad name and bad image", []ImageArg{{Image: "a b", Name: "/x"}},
			[]string{`1:1 image "a b"`, `1:1 target name "/x"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromImages(nil, tt.args)
			var errs ErrorList
			if !errors.As(err, &errs) {
				t.Fatalf("got %T %v, want ErrorList", err, err)
			}
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d refusals, want %d:\n%v", len(errs), len(tt.want), err)
			}
			for i, want := range tt.want {
				at, phrase, _ := strings.Cut(want, " ")
				if got := errs[i].Error(); !strings.HasPrefix(got, "--image:"+at+": ") || !strings.Contains(got, phrase) {
					t.Errorf("refusal %d:\n got %s\nwant --image:%s: ...%s...", i, got, at, phrase)
				}
			}
		})
	}
}
