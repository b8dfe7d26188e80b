package plan

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxCause is how many bytes of a cause OneLine keeps.
const MaxCause = 300

// MaxError is how many bytes of its message an *Error gives: more than a
// cause, since a refusal names the image, the platform and the fix.
const MaxError = 1000

// OneLine makes text that an image, a registry or a daemon wrote safe to
// print on a terminal as one line of a table: runs of white space become
// one space; control characters (C0, DEL, C1, so no escape sequence
// survives), the line and paragraph separators U+2028/U+2029, format
// characters (bidi overrides and isolates, zero-width spaces and joiners,
// U+FEFF, tag characters: text that hides or reorders what is shown) and
// invalid UTF-8 become '?'; and it is clipped to MaxCause bytes, ending
// in "…" when clipped. Every cause llbgen shows goes through it.
func OneLine(s string) string { return oneLine(s, MaxCause) }

// oneLine is OneLine clipped to limit bytes.
func oneLine(s string, limit int) string {
	var b strings.Builder
	space := false
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch {
		case r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f':
			space = b.Len() > 0
			continue
		case r == utf8.RuneError && n <= 1, unsafeRune(r):
			r = '?'
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		if b.Len()+utf8.RuneLen(r) > limit {
			return clip(b.String(), limit)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// unsafeRune is a rune that must not reach a terminal as it is: a control
// character (C0, DEL, C1), a line or paragraph separator, or a format
// character (Unicode's Cf: U+061C, U+200B–U+200F, U+202A–U+202E,
// U+2060–U+2064, U+2066–U+206F, U+FEFF, ...).
func unsafeRune(r rune) bool {
	return r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f ||
		unicode.In(r, unicode.Zl, unicode.Zp, unicode.Cf)
}

// clip ends s, already at limit bytes or close to it, with "…" and keeps
// it within limit bytes, cutting at a rune boundary.
func clip(s string, limit int) string {
	const ellipsis = "…"
	for len(s)+len(ellipsis) > limit {
		_, n := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-n]
	}
	return strings.TrimRight(s, " ") + ellipsis
}

// joinLines makes the lines of s (several refusals, one a line) one line,
// separated by "; ", for oneLine to keep.
func joinLines(s string) string {
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}
