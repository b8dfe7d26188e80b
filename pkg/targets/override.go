package targets

// SetHelperVersion replaces the list's helper version, for a flag or build
// argument that overrides helper.version; where names that setting in
// messages ("--helper-version"). The publish names are checked again, as
// {version} changes them; on a refusal the list is left as it was.
func (l *List) SetHelperVersion(v, where string) error {
	var errs ErrorList
	p := Pos{File: where, Line: 1, Col: 1}
	checkVersion(&errs, v, p)
	if err := errs.err(); err != nil {
		return err
	}
	old := l.Helper
	l.Helper = Helper{Version: v, Pos: p}
	if err := l.CheckPublish(); err != nil {
		l.Helper = old
		return err // the names it quotes show the version
	}
	return nil
}
