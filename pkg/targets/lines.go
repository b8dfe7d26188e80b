package targets

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"

	"go.yaml.in/yaml/v3"
)

// Lines is a range of lines of a list file, 1-based, first and last
// included: where a target, `helper:` or `go:` is written, for messages
// and for the source map that shows the lines under a failing build step.
// Zero when the list has no file there.
type Lines struct{ First, Last int }

// IsZero reports whether l points at nothing.
func (l Lines) IsZero() bool { return l.First == 0 }

func (l Lines) String() string {
	if l.First == l.Last {
		return fmt.Sprint(l.First)
	}
	return fmt.Sprintf("%d-%d", l.First, l.Last)
}

// spans finds where the pieces of a list are written. YAML nodes carry
// only where they start, so a piece ends where the next one starts (a
// top-level key, or the next target), less the blank and comment lines
// before it; a flow collection that ends on its last value's line is
// covered by that value's line.
type spans struct {
	lines  [][]byte // the file's lines, without their ends
	starts []int    // sorted lines where a top-level key or a target starts
}

// newSpans indexes data, whose root mapping is root, with targets the
// sequence of targets (nil when it is none).
func newSpans(data []byte, root, targets *yaml.Node) *spans {
	s := &spans{lines: splitLines(data)}
	if root = resolve(root); root.Kind == yaml.MappingNode {
		for i := 0; i < len(root.Content); i += 2 {
			s.starts = append(s.starts, root.Content[i].Line)
		}
	}
	if targets != nil && targets.Kind == yaml.SequenceNode {
		for _, item := range targets.Content {
			s.starts = append(s.starts, s.item(item))
		}
	}
	slices.Sort(s.starts)
	return s
}

// lineBreak is what YAML counts as the end of a line: CR LF, CR, LF, NEL,
// LS or PS; node positions count lines so, and so must spans.
var lineBreak = regexp.MustCompile("\r\n|[\r\n\u0085\u2028\u2029]")

// splitLines is data's lines, without their ends; a last line end starts
// no line of its own.
func splitLines(data []byte) [][]byte {
	var lines [][]byte
	last := 0
	for _, m := range lineBreak.FindAllIndex(data, -1) {
		lines = append(lines, data[last:m[0]])
		last = m[1]
	}
	if last < len(data) || len(lines) == 0 {
		lines = append(lines, data[last:])
	}
	return lines
}

// item is the line a sequence item starts on: its value's, or that of the
// lone "-" above it (a block item may start on the line after its dash).
func (s *spans) item(n *yaml.Node) int {
	for i := n.Line - 1; i >= 1 && i <= len(s.lines); i-- {
		t := bytes.TrimSpace(s.lines[i-1])
		if c := bytes.Index(t, []byte(" #")); c >= 0 {
			t = bytes.TrimSpace(t[:c])
		}
		switch {
		case bytes.Equal(t, []byte("-")):
			return i
		case !blankOrComment(t):
			return n.Line
		}
	}
	return n.Line
}

// of is the lines of the piece that starts on line first and holds nodes.
func (s *spans) of(first int, nodes ...*yaml.Node) Lines {
	l := Lines{First: max(first, 1)}
	// It ends before the next piece starts, or at the end of the file...
	end := len(s.lines)
	if i, _ := slices.BinarySearch(s.starts, l.First+1); i < len(s.starts) {
		end = min(end, s.starts[i]-1)
	}
	// ... less the blank and comment lines before that piece.
	for end > l.First && blankOrComment(s.lines[end-1]) {
		end--
	}
	l.Last = max(l.First, end)
	// A piece that shares its last line with the next (flow style) ends
	// on the last line any of its nodes starts on.
	for _, n := range nodes {
		l.Last = max(l.Last, lastLine(n))
	}
	return l
}

// lastLine is the last line any node under n starts on, aliases not followed.
func lastLine(n *yaml.Node) int {
	last := n.Line
	for _, c := range n.Content {
		last = max(last, lastLine(c))
	}
	return last
}

// blankOrComment reports whether a line holds nothing of the document:
// spaces, a comment, or a document end marker.
func blankOrComment(line []byte) bool {
	t := bytes.TrimSpace(line)
	return len(t) == 0 || t[0] == '#' || bytes.Equal(t, []byte("..."))
}
