package plan

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// OneLine keeps one bounded line of what can be shown safely: nothing that
// moves the cursor, breaks the line, or hides or reorders text.
func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"":                           "",
		"  a\t b\r\n\nc  ":           "a b c",
		"a\x1b[2Kb\x00c\x7fd\u0085e": "a?[2Kb?c?d?e",
		"ok: ünïcode ✓":              "ok: ünïcode ✓",
		"bad \xc3 utf8":              "bad ? utf8",
		"bidi \u202e gnp.exe":        "bidi ? gnp.exe",
		"isolate \u2066x\u2069":      "isolate ?x?",
		"line\u2028sep\u2029para":    "line?sep?para",
		"zero\u200bwidth\u200c\u200d\u200e\u200f":  "zero?width????",
		"bom\ufeff arabic\u061c":                   "bom? arabic?",
		"word\u2060joiner\u2061\u2062\u2063\u2064": "word?joiner????",
		"tag \U000E0041":                           "tag ?",
	} {
		if got := OneLine(in); got != want {
			t.Errorf("OneLine(%q) = %q, want %q", in, got, want)
		}
	}
	long := strings.Repeat("é", 1000)
	got := OneLine(long)
	if len(got) > MaxCause || !strings.HasSuffix(got, "…") || !utf8.ValidString(got) || len(got) < MaxCause-5 {
		t.Errorf("OneLine(long) = %d bytes %q", len(got), got)
	}
	if s := strings.Repeat("x", MaxCause); OneLine(s) != s {
		t.Error("a cause of exactly MaxCause bytes is clipped")
	}
}
