package targets

import (
	"strings"
	"testing"
)

func TestDeriveName(t *testing.T) {
	const hex = "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
	tests := []struct {
		name, ref, want string
	}{
		{"official image", "docker:19.03.12", "docker_19.03.12"},
		{"user image", "gitlab/gitlab-runner:v13.2.1", "gitlab-runner_v13.2.1"},
		{"registry with port", "registry:5000/a/b:1", "b_1"},
		{"registry with port, no tag", "registry:5000/a/b", "b_latest"},
		{"no tag", "alpine", "alpine_latest"},
		{"nested path", "ghcr.io/org/team/tools/runner:2.0-rc1", "runner_2.0-rc1"},
		{"fully qualified", "docker.io/library/docker:19.03.12", "docker_19.03.12"},
		{"digest only", "alpine@sha256:" + hex, "alpine_abcdef012345"},
		{"tag and digest: tag wins", "alpine:3.20@sha256:" + hex, "alpine_3.20"},
		{"tag starting with underscore", "alpine:_x", "alpine__x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DeriveName(tt.ref)
			if err != nil || got != tt.want {
				t.Fatalf("DeriveName(%q) = %q, %v; want %q", tt.ref, got, err, tt.want)
			}
			if !ValidName(got) {
				t.Errorf("derived name %q is not a valid name", got)
			}
		})
	}
}

func TestDeriveNameRefusal(t *testing.T) {
	_, err := DeriveName("Docker:1")
	if err == nil || !strings.Contains(err.Error(), `image "Docker:1": invalid reference format`) {
		t.Fatalf("DeriveName(Docker:1) error = %v", err)
	}
}

func TestValidName(t *testing.T) {
	tests := []struct {
		name string
		s    string
		want bool
	}{
		{"derived", "docker_19.03.12", true},
		{"single digit", "1", true},
		{"mixed case", "Runner-2", true},
		{"empty", "", false},
		{"dot", ".", false},
		{"dot dot", "..", false},
		{"hidden", ".x", false},
		{"leading dash", "-x", false},
		{"leading underscore", "_x", false},
		{"slash", "a/b", false},
		{"backslash", `a\b`, false},
		{"space", "a b", false},
		{"colon", "a:b", false},
		{"newline", "a\n", false},
		{"non-ascii", "café", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidName(tt.s); got != tt.want {
				t.Errorf("ValidName(%q) = %v, want %v", tt.s, got, tt.want)
			}
		})
	}
}

// The longest name a list accepts still fits, staged as pkg/outdir stages
// it, in a 255-byte file name, build information included.
func TestMaxNameFitsStaged(t *testing.T) {
	longest := "." + BinaryPrefix + strings.Repeat("a", maxName) + BuildInfoSuffix + ".llbgen-tmp-" + "4194304" + "-" + strings.Repeat("f", 12)
	if len(longest) > 255 {
		t.Errorf("a staged build-information file of the longest name is %d bytes", len(longest))
	}
}
