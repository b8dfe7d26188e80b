package plan

import (
	"strings"
	"unicode/utf8"
)

// MaxCause is how many bytes of a cause OneLine keeps.
const MaxCause = 300

// OneLine makes text that an image, a registry or a daemon wrote safe to
// print on a terminal as one line of a table: runs of white space become
// one space; control characters (C0, DEL, C1, so no escape sequence
// survives), bidi overrides and invalid UTF-8 become '?'; and it is clipped to MaxCause
// bytes, ending in "…" when clipped. Every cause llbgen shows goes
// through it.
func OneLine(s string) string {
	var b strings.Builder
	space := false
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch {
		case r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f':
			space = b.Len() > 0
			continue
		case r == utf8.RuneError && n <= 1, r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f,
			r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069: // and bidi overrides
			r = '?'
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		if b.Len()+utf8.RuneLen(r) > MaxCause {
			return clip(b.String())
		}
		b.WriteRune(r)
	}
	return b.String()
}

// clip ends s, already at MaxCause bytes or close to it, with "…" and
// keeps it within MaxCause bytes, cutting at a rune boundary.
func clip(s string) string {
	const ellipsis = "…"
	for len(s)+len(ellipsis) > MaxCause {
		_, n := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-n]
	}
	return strings.TrimRight(s, " ") + ellipsis
}
