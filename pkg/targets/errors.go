package targets

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Error is one refusal, with the place it refers to.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// ErrorList holds every refusal found in one list, sorted by position.
type ErrorList []*Error

// Error is one line per refusal, the first MaxErrors of them, then
// "and N more" when there are more: fixing those first changes the rest.
func (l ErrorList) Error() string {
	lines := make([]string, 0, min(len(l), MaxErrors)+1)
	for _, e := range l[:min(len(l), MaxErrors)] {
		lines = append(lines, e.Error())
	}
	if len(l) > MaxErrors {
		lines = append(lines, fmt.Sprintf("and %d more", len(l)-MaxErrors))
	}
	return strings.Join(lines, "\n")
}

// add records a refusal at p.
func (l *ErrorList) add(p Pos, format string, args ...any) {
	// Every refusal is one line, whatever text it quotes.
	msg := strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", "; ")
	*l = append(*l, &Error{Pos: p, Msg: msg})
}

// err is nil when nothing was refused, else the list sorted by position.
func (l ErrorList) err() error {
	if len(l) == 0 {
		return nil
	}
	slices.SortStableFunc(l, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
	})
	return l
}
