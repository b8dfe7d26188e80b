//go:build !go1.24

package stagetool

import "debug/elf"

// versionCauses needs debug/elf's version tables (Go 1.24): older
// toolchains, which a target list may name, build the stage tool without it.
func versionCauses(f *elf.File, found map[string]string) []string { return nil }
