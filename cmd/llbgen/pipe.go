package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/plan"
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
	// No daemon: nothing is resolved, the definition is for the lock's
	// platform or graph.DefaultPlatform.
	p, err := plan.Make(ctx, opts.input(list, lk), plan.Daemon{})
	if err != nil {
		return err
	}
	g, err := graph.Define(p.List, p.Graph)
	if err != nil {
		return fmt.Errorf("making the graph: %w", err)
	}
	// The whole definition first: a failure must leave nothing on stdout.
	def, err := graph.Definition(ctx, g.Output, p.Graph.Platform)
	if err != nil {
		return err
	}
	if _, err := stdout.Write(def); err != nil {
		return fmt.Errorf("writing the definition: %w", err)
	}
	proxySecretHint(cmd.ErrOrStderr(), p.Graph.Env)
	return nil
}
