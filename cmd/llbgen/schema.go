package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/llbgen/llbgen/pkg/targets"
)

func newSchemaCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the target list",
		Long: `schema prints the JSON Schema of targets.yaml, generated from llbgen's Go
types. The repository keeps a copy as targets.schema.json; editors with the
YAML language server use it through a first line such as

  # yaml-language-server: $schema=targets.schema.json`,
		Example: "  llbgen schema > targets.schema.json",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			data, err := targets.Schema()
			if err != nil {
				return err
			}
			_, err = stdout.Write(data)
			return err
		},
	}
}
