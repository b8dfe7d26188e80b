// Command bench measures llbgen against the test-bed daemon and rewrites
// docs/BENCHMARKS.md. Run it with `make bench` after `make testbed`.
//
// Every figure is the median of -runs repetitions; within one repetition
// the scenarios run one after another (interleaved), so ratios compare runs
// made under the same machine load.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"
)

type config struct {
	runs     int
	llbgen   string
	doc      string
	work     string
	sizes    []int
	skipSlow bool
	profileN int             // the N of the profiled cold build
	only     map[string]bool // scenario groups to run; empty: all
}

// runs reports whether the scenario group is selected.
func (c config) selected(group string) bool { return len(c.only) == 0 || c.only[group] }

func main() {
	var c config
	flag.IntVar(&c.runs, "runs", 3, "repetitions; each figure is their median")
	flag.StringVar(&c.llbgen, "llbgen", "bin/llbgen", "the llbgen binary to measure")
	flag.StringVar(&c.doc, "doc", "docs/BENCHMARKS.md", "file whose generated section is rewritten")
	flag.BoolVar(&c.skipSlow, "quick", false, "skip the one-build-per-image and bake scenarios (for trying the program)")
	only := flag.String("only", "", "comma-separated scenario groups to run: floor, cold, warm, add, platforms, cache, helpers, scale, fleet, one, bake, gen, profile (default all)")
	flag.IntVar(&c.profileN, "profile-n", 8, "N of the profiled cold build (1 to 8)")
	sizes := flag.String("sizes", "1,2,4,8", "N for the cold scenario")
	flag.Parse()
	if c.profileN < 1 || c.profileN > 8 {
		fmt.Fprintf(os.Stderr, "bench: -profile-n: %d is not a number from 1 to 8\n", c.profileN)
		os.Exit(2)
	}
	c.only = map[string]bool{}
	for _, g := range strings.Split(*only, ",") {
		if g = strings.TrimSpace(g); g != "" {
			c.only[g] = true
		}
	}
	for _, f := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 8 {
			fmt.Fprintf(os.Stderr, "bench: -sizes: %q is not a number from 1 to 8\n", f)
			os.Exit(2)
		}
		c.sizes = append(c.sizes, n)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config) error {
	env, err := loadEnv()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "llbgen-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	c.work = work
	b := &bench{cfg: c, env: env, started: time.Now()}
	if err := b.prepare(ctx); err != nil {
		return fmt.Errorf("preparing: %w", err)
	}
	for rep := 1; rep <= c.runs; rep++ {
		if err := b.repetition(ctx, rep); err != nil {
			return fmt.Errorf("repetition %d: %w", rep, err)
		}
	}
	if c.selected("gen") {
		gen, err := measureGeneration(1000, 5)
		if err != nil {
			return fmt.Errorf("generation: %w", err)
		}
		b.record("generation", 1000, gen...)
	}
	if c.selected("profile") {
		stages, total, err := b.profile(ctx)
		if err != nil {
			return fmt.Errorf("profile: %w", err)
		}
		b.profileText = profileMarkdown(stages, total, c.profileN, 14)
	}
	rep := b.report()
	fmt.Print(rep.markdown())
	return rep.writeDoc(c.doc)
}
