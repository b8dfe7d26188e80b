package main

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// scaleN is the large N of the scale scenario.
const scaleN = 64

// memory is the peak resident memory of llbgen and of buildkitd in one
// run, in MiB.
type memory struct{ llbgen, buildkitd float64 }

// prepareScale pushes scaleN distinct musl stand-ins (small: a busybox and
// musl) and writes list-scale-1.yaml and list-scale-64.yaml.
func (b *bench) prepareScale(ctx context.Context) error {
	stamp := fmt.Sprint(b.started.UnixNano())
	var imgs []string
	for i := 1; i <= scaleN; i++ {
		ref, err := b.distinctImage(ctx, "musl", fmt.Sprintf("scale-%d", i), stamp)
		if err != nil {
			return err
		}
		imgs = append(imgs, ref)
	}
	if err := b.writeList("list-scale-1.yaml", imgs[:1]); err != nil {
		return err
	}
	return b.writeList(fmt.Sprintf("list-scale-%d.yaml", scaleN), imgs)
}

// scale times cold builds of 1 and scaleN images, with the peak memory of
// llbgen and buildkitd in each.
func (b *bench) scale(ctx context.Context) error {
	for _, n := range []int{1, scaleN} {
		if err := b.prune(ctx); err != nil {
			return err
		}
		d, mem, err := b.measuredBuild(ctx, fmt.Sprintf("list-scale-%d.yaml", n))
		if err != nil {
			return err
		}
		b.record("cold, small images", n, d)
		b.memory = append(b.memory, memRecord{n: n, mem: mem})
	}
	return nil
}

type memRecord struct {
	n   int
	mem memory
}

// measuredBuild is llbgenBuild that also reads the peak resident memory of
// llbgen (its rusage) and of the test bed's buildkitd (VmHWM, reset before
// the build through /proc/PID/clear_refs).
func (b *bench) measuredBuild(ctx context.Context, list string) (time.Duration, memory, error) {
	var m memory
	pid, err := daemonPID(b.env.addr)
	if err != nil {
		return 0, m, err
	}
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		return 0, m, fmt.Errorf("resetting buildkitd's peak memory: %w", err)
	}
	out := filepath.Join(b.cfg.work, "out-"+strings.TrimSuffix(list, ".yaml"))
	cmd := exec.CommandContext(ctx, b.cfg.llbgen, "build", "-f", filepath.Join(b.cfg.work, list), "--out", out, "--addr", b.env.addr, "--progress", "plain")
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, m, fmt.Errorf("llbgen build -f %s: %w\n%s", list, err, tail(log.String(), 25))
	}
	d := time.Since(start)
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.llbgen = float64(ru.Maxrss) / 1024
	}
	hwm, err := statusKB(pid, "VmHWM")
	if err != nil {
		return 0, m, err
	}
	m.buildkitd = float64(hwm) / 1024
	return d, m, nil
}

// daemonPID finds the buildkitd serving the unix socket of addr.
func daemonPID(addr string) (int, error) {
	sock := strings.TrimPrefix(addr, "unix://")
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if filepath.Base(args[0]) == "buildkitd" && strings.Contains(string(cmdline), sock) {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no buildkitd process serving %s", addr)
}

// statusKB reads a kB field of /proc/PID/status.
func statusKB(pid int, field string) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kb int
		if n, _ := fmt.Sscanf(sc.Text(), field+": %d kB", &kb); n == 1 {
			return kb, nil
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// prepareFleet writes the fleet list: 8 distinct musl stand-ins, each for
// linux/amd64 and linux/arm64 (16 binaries), and one cgo target on the
// glibc stand-in (linux/amd64, a C compiler installed by setup).
func (b *bench) prepareFleet(ctx context.Context) error {
	stamp := fmt.Sprint(b.started.UnixNano())
	var s strings.Builder
	fmt.Fprintf(&s, "helper:\n  version: %s\ngo: %s\ntargets:\n", helperVersion, b.goImage())
	for i := 1; i <= 8; i++ {
		ref, err := b.distinctIndex(ctx, fmt.Sprintf("fleet-%d", i), stamp)
		if err != nil {
			return err
		}
		fmt.Fprintf(&s, "  - image: %s\n    name: fleet-%d\n    platforms: [linux/amd64, linux/arm64]\n", ref, i)
	}
	fmt.Fprintf(&s, "  - image: %s/standin/glibc:latest\n    name: cgo\n    cgo: true\n    platforms: [linux/amd64]\n    setup:\n      - apt-get update\n      - apt-get install -y --no-install-recommends gcc libc6-dev\n", b.env.registry)
	return os.WriteFile(filepath.Join(b.cfg.work, "list-fleet.yaml"), []byte(s.String()), 0o644)
}

// distinctIndex pushes the musl stand-in for amd64 and arm64 under a new
// name, each with one file that differs, as an image index.
func (b *bench) distinctIndex(ctx context.Context, name, marker string) (string, error) {
	ref := fmt.Sprintf("%s/bench/%s:latest", b.env.registry, name)
	args := []string{"index", "append", "--insecure", "-t", ref}
	for _, arch := range []string{"amd64", "arm64"} {
		one, err := b.distinctImageFrom(ctx, "musl:latest-"+arch, name+"-"+arch, marker)
		if err != nil {
			return "", err
		}
		dg, err := sh(ctx, nil, "", b.env.crane, "digest", "--insecure", one)
		if err != nil {
			return "", err
		}
		args = append(args, "-m", strings.TrimSuffix(one, ":latest")+"@"+strings.TrimSpace(dg))
	}
	if _, err := sh(ctx, nil, "", b.env.crane, args...); err != nil {
		return "", err
	}
	return ref, nil
}

// fleet times cold builds of the fleet list on the test bed's daemon
// alone, and with linux/arm64 routed to its second daemon (both emptied
// first).
func (b *bench) fleet(ctx context.Context) error {
	if b.env.addr2 == "" {
		return fmt.Errorf("the fleet scenario needs the test bed's second buildkitd (LLBGEN_BUILDKIT_HOST2): run hack/testbed.sh up")
	}
	list := filepath.Join(b.cfg.work, "list-fleet.yaml")
	for _, two := range []bool{false, true} {
		for _, addr := range []string{b.env.addr, b.env.addr2} {
			if _, err := sh(ctx, nil, "", "buildctl", "--addr", addr, "prune", "--all"); err != nil {
				return err
			}
		}
		args := []string{"build", "-f", list, "--out", filepath.Join(b.cfg.work, fmt.Sprintf("out-fleet-%t", two)), "--addr", b.env.addr, "--progress", "rawjson"}
		name := "cold, 8 amd64 + 8 arm64 + cgo, one daemon"
		if two {
			args = append(args, "--addr", "linux/arm64="+b.env.addr2)
			name = "cold, 8 amd64 + 8 arm64 + cgo, arm64 on a second daemon"
		}
		stages, took, err := rawSolve(exec.CommandContext(ctx, b.cfg.llbgen, args...))
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		b.record(name, 17, took)
		if b.fleetStages == nil {
			b.fleetStages = map[string][]stage{}
		}
		b.fleetStages[name] = stages // the last repetition's
	}
	return nil
}

// fleetMarkdown says where the fleet scenario's time went, from the vertex
// times of its last repetition: each kind of stage, on each daemon (the
// tag llbgen build gives a vertex of a daemon of several), from the start
// of its first vertex to the end of its last, after the build's first
// vertex started.
func fleetMarkdown(runs map[string][]stage) string {
	if len(runs) == 0 {
		return ""
	}
	var w strings.Builder
	fmt.Fprintln(&w, "Where the fleet scenario's time went (its last repetition, `--progress rawjson`; seconds after its first vertex started; stages overlap):")
	fmt.Fprintln(&w)
	for _, name := range slices.Sorted(maps.Keys(runs)) {
		fmt.Fprintf(&w, "%s:\n\n| stage | vertices | first started | last ended |\n| --- | ---: | ---: | ---: |\n", name)
		var first time.Time
		for _, s := range runs[name] {
			if first.IsZero() || s.start.Before(first) {
				first = s.start
			}
		}
		type span struct {
			n          int
			start, end time.Time
		}
		spans := map[string]*span{}
		for _, s := range runs[name] {
			g := stageGroup(s.name)
			sp := spans[g]
			if sp == nil {
				sp = &span{start: s.start, end: s.end}
				spans[g] = sp
			}
			sp.n++
			if s.start.Before(sp.start) {
				sp.start = s.start
			}
			if s.end.After(sp.end) {
				sp.end = s.end
			}
		}
		groups := slices.SortedFunc(maps.Keys(spans), func(a, b string) int { return spans[a].start.Compare(spans[b].start) })
		for _, g := range groups {
			sp := spans[g]
			fmt.Fprintf(&w, "| %s | %d | %.1f | %.1f |\n", g, sp.n, sp.start.Sub(first).Seconds(), sp.end.Sub(first).Seconds())
		}
		fmt.Fprintln(&w)
	}
	return w.String()
}

// stageGroup is the kind of stage a vertex name says, with the daemon's
// tag and the platform kept and the target and image left out:
// "[linux/arm64] verify (linux/arm64)".
func stageGroup(name string) string {
	tag := ""
	if strings.HasPrefix(name, "[") {
		if i := strings.Index(name, "] "); i > 0 {
			tag, name = name[:i+2], name[i+2:]
		}
	}
	plat := ""
	if i := strings.LastIndex(name, " (linux/"); i >= 0 && strings.HasSuffix(name, ")") {
		plat = name[i:]
	}
	switch {
	case strings.HasPrefix(name, "compile the helper once for "):
		return tag + strings.SplitN(name, ",", 2)[0]
	case strings.HasPrefix(name, "image "), strings.HasPrefix(name, "resolve image config"):
		return tag + strings.Fields(name)[0] + "s"
	case strings.HasPrefix(name, "setup "):
		return tag + "setup"
	case strings.HasPrefix(name, "the verdict of "):
		return tag + "verdicts"
	case strings.HasPrefix(name, "the go image's toolchain"):
		return tag + "the go image's toolchain"
	case strings.HasPrefix(name, "llbgen's own executable"):
		return tag + "llbgen's own executable"
	}
	words := strings.Fields(name)
	return tag + words[0] + plat
}
