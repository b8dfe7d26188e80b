package targets

// Only is the list with only the binaries keep keeps, each under the name
// (and so the file) it has in l: a target of several platforms that keeps
// one still builds docker-credential-ecr-login-NAME-OS-ARCH. Targets that
// keep none are left out; nil when no binary is kept. Runs that share the
// list's binaries among several daemons build one part each.
func (l *List) Only(keep func(Binary) bool) *List {
	out := *l
	out.Targets = nil
	for _, t := range l.Targets {
		if len(t.Platforms) == 0 {
			if keep(t.Binaries()[0]) {
				out.Targets = append(out.Targets, t)
			}
			continue
		}
		kept := t
		kept.Platforms = nil
		kept.suffixed = t.suffixed || len(t.Platforms) > 1
		for i, b := range t.Binaries() {
			if keep(b) {
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
