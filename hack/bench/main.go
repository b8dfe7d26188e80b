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
	"time"
)

type config struct {
	runs     int
	llbgen   string
	doc      string
	work     string
	sizes    []int
	skipSlow bool
}

func main() {
	var c config
	flag.IntVar(&c.runs, "runs", 3, "repetitions; each figure is their median")
	flag.StringVar(&c.llbgen, "llbgen", "bin/llbgen", "the llbgen binary to measure")
	flag.StringVar(&c.doc, "doc", "docs/BENCHMARKS.md", "file whose generated section is rewritten")
	flag.BoolVar(&c.skipSlow, "quick", false, "skip the one-build-per-image and bake scenarios (for trying the program)")
	flag.Parse()
	c.sizes = []int{1, 2, 4, 8}
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
	gen, err := measureGeneration(1000, 5)
	if err != nil {
		return fmt.Errorf("generation: %w", err)
	}
	b.record("generation", 1000, gen...)
	rep := b.report()
	fmt.Print(rep.markdown())
	return rep.writeDoc(c.doc)
}
