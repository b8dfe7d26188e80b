package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/llbgen/llbgen/pkg/graph/stagetool"
)

// TestMain makes the test binary what llbgen is: the stage tool when
// started under its name, so runs in this process offer it to the daemon
// as llbgen offers itself (a static test binary, CGO_ENABLED=0 as `make
// test` builds it, serves; another compiles the stage tool).
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == stagetool.Name {
		os.Exit(stagetool.Main(os.Args))
	}
	stageToolExe = "/proc/self/exe"
	os.Exit(m.Run())
}
