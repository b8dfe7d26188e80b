package daemon

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/progress/progressui"
	digest "github.com/opencontainers/go-digest"
)

// display shows BuildKit's progress of every session of a run in one
// view, and feeds the collector that failure causes are read from.
//
// A vertex that several sessions use (the download, the static compile) is
// reported by each of them, its log included: the log of a vertex is
// shown from one session only, the first to send it, until that session
// ends.
type display struct {
	status   chan *client.SolveStatus
	wg       sync.WaitGroup
	sessions sync.WaitGroup

	// warnings are the daemon's, as the display collected them; read
	// once it is done (wait).
	warnings []client.VertexWarning

	mu     sync.Mutex
	next   int
	owners map[owned]int // the session whose log of a vertex is shown
}

// owned is a vertex of one daemon's run (its collector): two daemons
// that run a vertex of one digest each show their own log of it.
type owned struct {
	col *collector
	dg  digest.Digest
}

func startDisplay(ctx context.Context, out io.Writer, mode progressui.DisplayMode) (*display, error) {
	ui, err := progressui.NewDisplay(out, mode)
	if err != nil {
		return nil, fmt.Errorf("progress display: %w", err)
	}
	d := &display{status: make(chan *client.SolveStatus), owners: map[owned]int{}}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		// Drain until the status channel closes, even when ctx is canceled,
		// so BuildKit's last words are shown.
		d.warnings, _ = ui.UpdateFrom(context.WithoutCancel(ctx), d.status)
	}()
	return d, nil
}

// session returns the status channel for one more session of the daemon
// whose progress col collects; client.Build closes it when it returns.
// With a tag (the daemon's address, when a run builds on several), the
// session's vertices are shown as that daemon's own: their names start
// with [tag], and their digests are made the daemon's, so that the same
// step on two daemons is shown twice, each with its own state.
func (d *display) session(col *collector, tag string) chan *client.SolveStatus {
	d.mu.Lock()
	id := d.next
	d.next++
	d.mu.Unlock()
	ch := make(chan *client.SolveStatus)
	d.sessions.Add(1)
	go func() {
		defer d.sessions.Done()
		for s := range ch {
			s = d.own(col, id, s)
			col.add(s)
			d.status <- tagged(s, tag)
		}
		d.release(id)
	}()
	return ch
}

// tagged is s as shown for the daemon tag names: a copy whose vertices
// carry digests of the daemon's and names that start with [tag]; s when
// tag is "".
func tagged(s *client.SolveStatus, tag string) *client.SolveStatus {
	if tag == "" {
		return s
	}
	dg := func(d digest.Digest) digest.Digest { return digest.FromString(tag + "\x00" + d.String()) }
	out := &client.SolveStatus{}
	for _, v := range s.Vertexes {
		c := *v
		c.Digest, c.Name = dg(v.Digest), "["+tag+"] "+v.Name
		c.Inputs = make([]digest.Digest, len(v.Inputs))
		for i, in := range v.Inputs {
			c.Inputs[i] = dg(in)
		}
		out.Vertexes = append(out.Vertexes, &c)
	}
	for _, st := range s.Statuses {
		c := *st
		c.Vertex = dg(st.Vertex)
		out.Statuses = append(out.Statuses, &c)
	}
	for _, l := range s.Logs {
		c := *l
		c.Vertex = dg(l.Vertex)
		out.Logs = append(out.Logs, &c)
	}
	for _, w := range s.Warnings {
		c := *w
		c.Vertex = dg(w.Vertex)
		out.Warnings = append(out.Warnings, &c)
	}
	return out
}

// release hands the logs session id showed to whichever session sends
// them next: it has ended.
func (d *display) release(id int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for o, owner := range d.owners {
		if owner == id {
			delete(d.owners, o)
		}
	}
}

// own keeps of s the logs and warnings of the vertices whose log session
// id shows.
func (d *display) own(col *collector, id int, s *client.SolveStatus) *client.SolveStatus {
	if len(s.Logs) == 0 && len(s.Warnings) == 0 {
		return s
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	mine := func(dg digest.Digest) bool {
		owner, ok := d.owners[owned{col, dg}]
		if !ok {
			d.owners[owned{col, dg}] = id
			return true
		}
		return owner == id
	}
	out := *s
	out.Logs, out.Warnings = nil, nil
	for _, l := range s.Logs {
		if mine(l.Vertex) {
			out.Logs = append(out.Logs, l)
		}
	}
	for _, w := range s.Warnings {
		if mine(w.Vertex) {
			out.Warnings = append(out.Warnings, w)
		}
	}
	return &out
}

// close ends the display once every session has ended; wait returns once
// everything sent has been shown.
func (d *display) close() {
	d.sessions.Wait()
	close(d.status)
}

func (d *display) wait() { d.wg.Wait() }

// maxWarnings is how many of the daemon's warnings are listed.
const maxWarnings = 20

// printWarnings lists the daemon's warnings once the display is done, as
// buildx does after a build: each once, one line each.
func printWarnings(out io.Writer, mode progressui.DisplayMode, warnings []client.VertexWarning) {
	if out == nil || mode == progressui.QuietMode || mode == progressui.RawJSONMode {
		return // rawjson carries them already; quiet asked for none
	}
	var lines []string
	seen := map[string]bool{}
	for _, w := range warnings {
		line := OneLine(string(w.Short))
		if !seen[line] {
			seen[line] = true
			if len(lines) < maxWarnings {
				lines = append(lines, line)
			}
		}
	}
	if len(seen) == 0 {
		return
	}
	s := "s"
	if len(seen) == 1 {
		s = ""
	}
	fmt.Fprintf(out, "%d warning%s from the daemon:\n", len(seen), s)
	for _, l := range lines {
		fmt.Fprintf(out, " - %s\n", l)
	}
	if more := len(seen) - len(lines); more > 0 {
		fmt.Fprintf(out, " - and %d more\n", more)
	}
}
