package daemon

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/llbgen/llbgen/pkg/targets"
)

// cause turns a binary's failed solve into one line that says what went
// wrong, read from the vertices that failed: the download, the target's
// setup, the binary's compile or its verify stage. name is the binary's
// (targets.Binary.Name).
func (c *collector) cause(name string, solveErr error) string {
	return OneLine(c.rawCause(name, solveErr))
}

func (c *collector) rawCause(name string, solveErr error) string {
	if vs := c.failed("verify " + name + " "); len(vs) > 0 {
		prefix := "llbgen: target " + name + ": "
		for i := len(vs[0].lines) - 1; i >= 0; i-- {
			if _, msg, ok := strings.Cut(vs[0].lines[i], prefix); ok {
				return "verify failed: " + msg
			}
		}
		return "verify failed: " + lastLines(vs[0], 3, vs[0].err)
	}
	if vs := c.failed("setup " + name + " "); len(vs) > 0 {
		_, cmd, _ := strings.Cut(vs[0].name, "): ")
		return fmt.Sprintf("setup command %q failed: %s", cmd, lastLines(vs[0], 3, vs[0].err))
	}
	if vs := c.failed("compile " + name + " "); len(vs) > 0 {
		return "compile error: " + lastLines(vs[0], 3, vs[0].err)
	}
	if vs := c.failed("download "); len(vs) > 0 {
		msg := lastGoError(vs[0])
		if isUnknownVersion(msg) {
			return "module version unknown (is " + targets.HelperModule + "@" + versionOf(vs[0].name) + " published?): " + msg
		}
		return "downloading modules failed: " + msg
	}
	if vs := c.failed("compile llbgen's stage tool"); len(vs) > 0 {
		return "compiling llbgen's stage tool failed: " + lastLines(vs[0], 3, vs[0].err)
	}
	return firstLine(solveErr.Error())
}

func isUnknownVersion(msg string) bool {
	// 403 is what some proxies answer for a version they do not serve.
	for _, s := range []string{"404 Not Found", "410 Gone", "403 Forbidden", "unknown revision", "invalid version", "no matching versions"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// versionOf reads the version from a download vertex's name.
func versionOf(name string) string {
	_, v, _ := strings.Cut(name, "@")
	return v
}

// lastGoError is the last "go: ..." line a go command printed.
func lastGoError(v *vertex) string {
	for i := len(v.lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(v.lines[i], "go: ") {
			return strings.TrimPrefix(v.lines[i], "go: ")
		}
	}
	return lastLines(v, 1, v.err)
}

// lastLines joins a vertex's last n log lines, or gives fallback.
func lastLines(v *vertex, n int, fallback string) string {
	if len(v.lines) == 0 {
		return firstLine(fallback)
	}
	from := max(len(v.lines)-n, 0)
	return strings.Join(v.lines[from:], "; ")
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return OneLine(s)
}

// ImageCause is the one line for an image that did not resolve.
func ImageCause(role, ref string, err error) string {
	return OneLine(fmt.Sprintf("%s %s not found or not authorised: %s", role, ref, firstLine(err.Error())))
}

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
