package targets

// Only is the list with only the platforms whose binaries keep keeps (a
// binary of any helper keeps its platform), each binary under the name (and
// so the file) it has in l: a target of several platforms that keeps one
// still builds docker-credential-ecr-login-NAME-OS-ARCH. Targets that
// keep none are left out; nil when no binary is kept. Runs that share the
// list's binaries among several daemons build one part each.
func (l *List) Only(keep func(Binary) bool) *List {
	out := *l
	out.Targets = nil
	for _, t := range l.Targets {
		bins := t.Binaries() // helper by helper, each platform by platform
		per := len(t.platformBinaries())
		// platform i is kept when a binary of it is, of any helper
		keptAt := func(i int) bool {
			for j := i; j < len(bins); j += per {
				if keep(bins[j]) {
					return true
				}
			}
			return false
		}
		if len(t.Platforms) == 0 {
			if keptAt(0) {
				out.Targets = append(out.Targets, t)
			}
			continue
		}
		kept := t
		kept.Platforms = nil
		kept.suffixed = t.suffixed || len(t.Platforms) > 1
		for i := range t.Platforms {
			if keptAt(i) {
				kept.Platforms = append(kept.Platforms, t.Platforms[i])
			}
		}
		if len(kept.Platforms) > 0 {
			out.Targets = append(out.Targets, kept)
		}
	}
	if len(out.Targets) == 0 {
		return nil
	}
	return &out
}
