package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/moby/buildkit/client"
)

// stage is one vertex of a profiled solve.
type stage struct {
	name       string
	start, end time.Time
	cached     bool
}

// profile runs one cold N=profileN build with --progress rawjson and returns its
// vertices, slowest first: where a cold build spends its time.
func (b *bench) profile(ctx context.Context) ([]stage, time.Duration, error) {
	if err := b.prune(ctx); err != nil {
		return nil, 0, err
	}
	out, total, err := rawSolve(exec.CommandContext(ctx, b.cfg.llbgen, "build", "-f", filepath.Join(b.cfg.work, fmt.Sprintf("list-%d.yaml", b.cfg.profileN)),
		"--out", filepath.Join(b.cfg.work, "out-profile"), "--addr", b.env.addr, "--progress", "rawjson"))
	if err != nil {
		return nil, 0, fmt.Errorf("profiled build: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].end.Sub(out[i].start) > out[j].end.Sub(out[j].start) })
	return out, total, nil
}

// rawSolve runs cmd, a build printing BuildKit's progress as JSON on its
// standard error (--progress rawjson), and returns the vertices that ran,
// with the wall time of the whole command.
func rawSolve(cmd *exec.Cmd) ([]stage, time.Duration, error) {
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, 0, err
	}
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	stages := map[string]*stage{}
	var order []string
	var last []byte
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var s client.SolveStatus
		if json.Unmarshal(sc.Bytes(), &s) != nil {
			last = append(last[:0], sc.Bytes()...)
			continue // the summary table, an error
		}
		for _, v := range s.Vertexes {
			st, ok := stages[v.Digest.String()]
			if !ok {
				st = &stage{}
				stages[v.Digest.String()] = st
				order = append(order, v.Digest.String())
			}
			st.name, st.cached = v.Name, v.Cached
			if v.Started != nil {
				st.start = *v.Started
			}
			if v.Completed != nil {
				st.end = *v.Completed
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		return nil, 0, fmt.Errorf("%w: %s", err, last)
	}
	total := time.Since(began)
	var out []stage
	for _, d := range order {
		if s := stages[d]; !s.start.IsZero() && !s.end.IsZero() {
			out = append(out, *s)
		}
	}
	return out, total, nil
}

func profileMarkdown(stages []stage, total time.Duration, images, n int) string {
	var w strings.Builder
	fmt.Fprintf(&w, "Where one cold N=%d build spends its time (`llbgen build --progress rawjson`, %.1f s in all; the %d longest vertices; they overlap):\n\n", images, total.Seconds(), n)
	fmt.Fprintln(&w, "| vertex | started (s) | took (s) |")
	fmt.Fprintln(&w, "| --- | ---: | ---: |")
	var first time.Time
	for _, s := range stages {
		if first.IsZero() || s.start.Before(first) {
			first = s.start
		}
	}
	for i, s := range stages {
		if i == n {
			break
		}
		fmt.Fprintf(&w, "| %s | %.1f | %.1f |\n", s.name, s.start.Sub(first).Seconds(), s.end.Sub(s.start).Seconds())
	}
	fmt.Fprintln(&w)
	return w.String()
}
