package daemon

import (
	"bytes"
	"slices"
	"strings"
	"sync"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"

	"github.com/llbgen/llbgen/pkg/graph"
)

// maxHead and maxLines are how many log lines are kept per vertex for
// failure causes: the first (a compiler's first errors) and the last (a
// command's last words); maxLine is how many bytes of each (and of an
// unfinished line). An image decides what its steps print, so what is
// kept must be bounded by llbgen, not only by the daemon's log cap.
const (
	maxHead  = 20
	maxLines = 40
	maxLine  = 4 << 10
)

// collector keeps, by vertex digest, what failure causes are made from:
// each vertex's stage (from the definitions solved), and from the progress
// stream its error and log lines.
type collector struct {
	mu       sync.Mutex
	vertices map[digest.Digest]*vertex
	stages   map[digest.Digest]graph.Stage
}

type vertex struct {
	err     string
	head    []string // the first maxHead lines
	lines   []string // the last maxLines lines after head
	partial []byte   // the unfinished line, at most maxLine bytes
	clipped bool     // partial lost bytes past maxLine
}

func newCollector() *collector {
	return &collector{vertices: map[digest.Digest]*vertex{}, stages: map[digest.Digest]graph.Stage{}}
}

// learn keeps the stage of every vertex of a definition about to be solved.
// Each binary's definition is marshalled on its own, and carries, of a
// vertex several binaries share (two cgo targets of one image run the
// same setup), only its own binary: a vertex serves the union of the
// binaries of every definition learned.
func (c *collector) learn(def *pb.Definition) {
	stages := graph.Stages(def)
	c.mu.Lock()
	defer c.mu.Unlock()
	for d, s := range stages {
		if known, ok := c.stages[d]; ok {
			s.Binaries = union(known.Binaries, s.Binaries)
		}
		c.stages[d] = s
	}
}

// union is the binaries of two marks of one vertex, sorted; none (every
// binary, see graph.Stage) when either is.
func union(a, b []string) []string {
	if len(a) == 0 || len(b) == 0 {
		return nil
	}
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

func (c *collector) get(d digest.Digest) *vertex {
	v, ok := c.vertices[d]
	if !ok {
		v = &vertex{}
		c.vertices[d] = v
	}
	return v
}

func (c *collector) add(s *client.SolveStatus) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, sv := range s.Vertexes {
		if sv.Error != "" {
			c.get(sv.Digest).err = clipLine(sv.Error)
		}
	}
	for _, l := range s.Logs {
		c.get(l.Vertex).write(l.Data)
	}
}

// write adds a chunk of a vertex's log. Each byte is looked at once, and
// at most maxLine bytes of a line are kept, however long the line.
func (v *vertex) write(data []byte) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		chunk := data
		if i >= 0 {
			chunk, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if room := maxLine - len(v.partial); len(chunk) > room {
			chunk, v.clipped = chunk[:room], true
		}
		v.partial = append(v.partial, chunk...)
		if i >= 0 {
			v.flush()
		}
	}
}

// flush ends the unfinished line.
func (v *vertex) flush() {
	line := string(v.partial)
	if v.clipped {
		line += "…"
	}
	v.partial, v.clipped = v.partial[:0], false
	v.addLine(line)
}

// clipLine keeps maxLine bytes of s.
func clipLine(s string) string {
	if len(s) > maxLine {
		return s[:maxLine] + "…"
	}
	return s
}

func (v *vertex) addLine(line string) {
	line = strings.TrimRight(clipLine(line), "\r")
	if strings.TrimSpace(line) == "" {
		return
	}
	if len(v.head) < maxHead {
		v.head = append(v.head, line)
		return
	}
	v.lines = append(v.lines, line)
	if len(v.lines) > maxLines {
		v.lines = v.lines[len(v.lines)-maxLines:]
	}
}

// vertexLog is what a vertex printed, as kept: its first lines, then its last.
type vertexLog struct {
	err   string
	lines []string
}

// logOf copies a vertex's log, its unfinished line ended; a vertex the
// progress never named has an empty one. c.mu is held.
func (c *collector) logOf(d digest.Digest) vertexLog {
	v, ok := c.vertices[d]
	if !ok {
		return vertexLog{}
	}
	if len(v.partial) > 0 || v.clipped {
		v.flush()
	}
	return vertexLog{err: v.err, lines: append(append([]string(nil), v.head...), v.lines...)}
}
