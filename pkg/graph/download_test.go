package graph

import (
	"testing"

	"github.com/llbgen/llbgen/pkg/targets"
)

// The module cache escapes capitals in paths and versions alike.
func TestModuleFileEscapes(t *testing.T) {
	h := targets.Helper{Name: "gcr", Version: "v2.3.0-RC1"}
	if got, want := ModuleFile(h, ".info"), "cache/download/github.com/!google!cloud!platform/docker-credential-gcr/v2/@v/v2.3.0-!r!c1.info"; got != want {
		t.Errorf("ModuleFile: %s, want %s", got, want)
	}
}
