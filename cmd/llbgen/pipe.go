package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/containerd/platforms"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/lock"
)

// writeDefinition is the pipe, `llbgen | buildctl build`: the whole
// graph as one LLB definition on stdout, for a daemon llbgen never talks to.
func writeDefinition(ctx context.Context, opts *listOptions, cmd *cobra.Command, stdout io.Writer) error {
	if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return usagef("refusing to write a binary LLB definition to a terminal; pipe it: llbgen | buildctl build --output type=local,dest=out")
	}
	list, err := opts.load(cmd.Flags())
	if err != nil {
		return err
	}
	lk, err := opts.lock(list, false)
	if err != nil {
		return err
	}
	epoch, err := sourceDateEpoch()
	if err != nil {
		return err
	}
	gopt := graph.Options{Env: graph.EnvFromOS(), SourceDateEpoch: epoch}
	if err := checkSumDB(gopt.Env, lk); err != nil {
		return err
	}
	platform := graph.DefaultPlatform()
	if lk != nil {
		lk.Apply(&gopt)
		if platform, err = platforms.Parse(lk.Platform); err != nil {
			return usagef("%s: platform %q: %v", lock.Path(opts.file), lk.Platform, err)
		}
	}
	gopt.Platform = platform
	g, err := graph.Define(list, gopt)
	if err != nil {
		return fmt.Errorf("making the graph: %w", err)
	}
	// The whole definition first: a failure must leave nothing on stdout.
	def, err := graph.Definition(ctx, g.Output, platform)
	if err != nil {
		return err
	}
	if _, err := stdout.Write(def); err != nil {
		return fmt.Errorf("writing the definition: %w", err)
	}
	proxySecretHint(cmd.ErrOrStderr(), gopt.Env)
	return nil
}
