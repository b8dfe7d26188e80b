package targets

import (
	"slices"
	"strings"
)

// SetHelperVersion replaces the list's helper version, for a flag or build
// argument that overrides helper.version; where names that setting in
// messages ("--helper-version"). The publish names are checked again, as
// {version} changes them; on a refusal the list is left as it was.
func (l *List) SetHelperVersion(v, where string) error {
	var errs ErrorList
	p := Pos{File: where, Line: 1, Col: 1}
	if len(l.Helpers) != 1 {
		errs.add(p, "%s sets the version of a list's one helper, and %s builds %d (%s); write each version in the list", where, l.File, len(l.Helpers), strings.Join(l.helperNames(), ", "))
		return errs.err()
	}
	checkVersion(&errs, v, p)
	if err := errs.err(); err != nil {
		return err
	}
	oldHelpers, oldTargets := l.Helpers, l.Targets
	l.Targets = slices.Clone(l.Targets) // a copy of a list shares them: bind its own
	h := l.Helpers[0]
	h.Version, h.Pos, h.Lines = v, p, Lines{}
	l.Helpers = []Helper{h}
	l.bindHelpers(&errs)
	err := errs.err()
	if err == nil {
		err = l.CheckPublish() // the names it quotes show the version
	}
	if err != nil {
		// as it was: its own targets, bound to its own helpers
		l.Helpers, l.Targets = oldHelpers, oldTargets
	}
	return err
}
