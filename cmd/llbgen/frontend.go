package main

import (
	"github.com/moby/buildkit/frontend/gateway/grpcclient"
	"github.com/spf13/cobra"

	"github.com/llbgen/llbgen/pkg/frontend"
)

// newFrontendCmd is the entry point of the frontend image: BuildKit starts it
// with the gateway API on stdin/stdout. Hidden: people never run it by hand.
func newFrontendCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "frontend",
		Short:  "Run as a BuildKit gateway frontend (the frontend image's entry point)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return grpcclient.RunFromEnvironment(cmd.Context(), frontend.Build)
		},
	}
}
