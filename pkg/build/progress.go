package build

import (
	"bytes"
	"strings"
	"sync"

	"github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
)

// maxLines is how many log lines are kept per vertex for failure causes.
const maxLines = 40

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
	partial []byte
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
			v.err = sv.Error
		}
	}
	for _, l := range s.Logs {
		v := c.get(l.Vertex)
		data := append(v.partial, l.Data...)
		for {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				break
			}
			v.addLine(string(data[:i]))
			data = data[i+1:]
		}
		v.partial = append([]byte(nil), data...)
	}
}

func (v *vertex) addLine(line string) {
	line = strings.TrimRight(line, "\r")
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
			if len(v.partial) > 0 {
				v.addLine(string(v.partial))
				v.partial = nil
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
