//go:build go1.24

package stagetool

import (
	"debug/elf"
	"fmt"
	"strings"
)

// versionCauses says which symbol versions f needs (its SHT_GNU_verneed)
// that the libraries found for it (by name, their host paths) do not define.
func versionCauses(f *elf.File, found map[string]string) []string {
	needs, err := f.DynamicVersionNeeds()
	if err != nil {
		return nil
	}
	var causes []string
	for _, need := range needs {
		host, ok := found[need.Name]
		if !ok {
			continue // missing altogether: said already
		}
		lib, err := elf.Open(host)
		if err != nil {
			continue
		}
		defs, err := lib.DynamicVersions()
		lib.Close()
		if err != nil || len(defs) == 0 {
			continue // an unversioned library: the loader only warns
		}
		var defined, needed []string
		for _, d := range defs {
			if d.Flags&elf.VER_FLG_BASE == 0 {
				defined = append(defined, d.Name)
			}
		}
		for _, d := range need.Needs {
			if d.Flags&elf.VER_FLG_WEAK == 0 {
				needed = append(needed, d.Dep)
			}
		}
		if missing := missingVersions(needed, defined); len(missing) > 0 {
			causes = append(causes, fmt.Sprintf("needs %s from %s; the image's %s %s",
				strings.Join(missing, ", "), need.Name, need.Name, versionGap(defined, missing)))
		}
	}
	return causes
}
