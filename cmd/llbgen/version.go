package main

import (
	"fmt"
	"runtime/debug"
)

// version is llbgen's version; a release build sets it with
// -ldflags "-X main.version=v1.2.3", else the module's is used.
var version = ""

// versionLine is what --version prints: llbgen's version, the commit it
// was built from (with "+dirty" for uncommitted changes) and its Go
// version, from the binary's own build information.
func versionLine() string {
	v, commit, goVersion := version, "unknown", "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		goVersion = info.GoVersion
		if v == "" {
			v = info.Main.Version
		}
		var dirty bool
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if dirty {
			commit += "+dirty"
		}
	}
	if v == "" {
		v = "(devel)"
	}
	return fmt.Sprintf("llbgen %s (commit %s, %s)", v, commit, goVersion)
}
