package daemon

import (
	"bytes"
	"strings"
	"sync"

	"github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
)

// maxLines is how many log lines are kept per vertex for failure causes,
// and maxLine how many bytes of each (and of an unfinished line): an image
// decides what its steps print, so what is kept must be bounded by llbgen,
// not only by the daemon's log cap.
const (
	maxLines = 40
	maxLine  = 4 << 10
)

// collector keeps, from the progress stream, each vertex's name, error and
// last log lines: the material failure causes are made from.
type collector struct {
	mu       sync.Mutex
	vertices map[digest.Digest]*vertex
}

type vertex struct {
	name    string
	err     string
	lines   []string
	partial []byte // the unfinished line, at most maxLine bytes
	clipped bool   // partial lost bytes past maxLine
}

func newCollector() *collector { return &collector{vertices: map[digest.Digest]*vertex{}} }

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
		v := c.get(sv.Digest)
		v.name = sv.Name
		if sv.Error != "" {
			v.err = clipLine(sv.Error)
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
	v.lines = append(v.lines, line)
	if len(v.lines) > maxLines {
		v.lines = v.lines[len(v.lines)-maxLines:]
	}
}

// failed returns the failed vertices whose names start with prefix.
func (c *collector) failed(prefix string) []*vertex {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*vertex
	for _, v := range c.vertices {
		if v.err != "" && strings.HasPrefix(v.name, prefix) {
			if len(v.partial) > 0 || v.clipped {
				v.flush()
			}
			out = append(out, v)
		}
	}
	return out
}

// failedIfAny is failed on a collector that may not exist (the session
// never started).
func (c *collector) failedIfAny(prefix string) []*vertex {
	if c == nil {
		return nil
	}
	return c.failed(prefix)
}
