package targets

// SetHelperVersion replaces the list's helper version, for a flag or build
// argument that overrides helper.version; where names that setting in
// messages ("--helper-version").
func (l *List) SetHelperVersion(v, where string) error {
	var errs ErrorList
	p := Pos{File: where, Line: 1, Col: 1}
	checkVersion(&errs, v, p)
	if err := errs.err(); err != nil {
		return err
	}
	l.Helper = Helper{Version: v, Pos: p}
	return nil
}
