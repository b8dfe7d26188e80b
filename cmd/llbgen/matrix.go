package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/containerd/platforms"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/llbgen/llbgen/pkg/daemon"
	"github.com/llbgen/llbgen/pkg/graph"
)

const matrixExample = `  # which binary of targets.yaml runs in which of its images, and why not
  llbgen matrix

  # the original bug, shown: a cgo binary from a glibc image in a musl one
  llbgen matrix -f ci/targets.yaml`

// matrixOptions are the flags of `llbgen matrix`.
type matrixOptions struct {
	list   listOptions
	daemon daemonOptions
	locked bool
}

func (o *matrixOptions) addFlags(fs *pflag.FlagSet) {
	o.list.addFlags(fs)
	o.daemon.addFlags(fs)
	fs.BoolVar(&o.locked, "locked", false, "require FILE.lock and build from its pinned digests; without the flag a lock is used when it exists")
}

func newMatrixCmd(stdout, stderr io.Writer) *cobra.Command {
	var opts matrixOptions
	cmd := &cobra.Command{
		Use:   "matrix [-f FILE | --image REF [--name NAME]...] [--addr ADDR]",
		Short: "Run every binary of the list in every image of the list, and say why one does not run",
		Long: `matrix builds the list's binaries on a BuildKit daemon, then runs each one
(` + "`version`" + `, network none, no shell) in each target image of its platform,
and prints a table on stdout: rows binaries, columns images, ✓ when it ran
and reported the expected version, ✗ when not, ? when this daemon could not
tell (no emulator for the binary's platform). Under the table, one line per
✗ gives the cause, read from the binary (its ELF interpreter, needed
libraries and symbol versions) held against what the image contains, and
from what the run printed. A binary is not run in an image of another
platform: those cells are ✗, counted in one line.

It writes no files. Exit status: 0 when the table was made, whatever its
cells; 1 when a binary could not be built or the run failed; 2 bad input.`,
		Example: matrixExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.daemon.Validate(stderr); err != nil {
				return err
			}
			list, in, err := opts.list.planned(cmd.Flags(), opts.locked)
			if err != nil {
				return err
			}
			opts.daemon.warnSetupReach(stderr, list)
			m, err := daemon.RunMatrix(cmd.Context(), list, opts.daemon.options(stderr, in))
			if err != nil {
				return err
			}
			writeMatrix(stdout, m)
			if n := len(m.Rows) - m.Built(); n > 0 {
				return errTargetsFailed{n: n, of: len(m.Rows), what: "could not be built; their rows are empty"}
			}
			return nil
		},
	}
	opts.addFlags(cmd.Flags())
	return cmd
}

// writeMatrix prints the table, then one line per ✗ and per binary that
// could not be built.
func writeMatrix(w io.Writer, m *daemon.Matrix) {
	heads := columnHeads(m.Columns)
	rows := [][]string{append([]string{"BINARY \\ IMAGE"}, heads...)}
	for _, r := range m.Rows {
		row := []string{r.Binary.Name}
		for j := range m.Columns {
			switch {
			case r.Cells == nil:
				row = append(row, "-")
			case r.Cells[j].OK:
				row = append(row, "✓")
			case r.Cells[j].NotRun:
				row = append(row, "?")
			default:
				row = append(row, "✗")
			}
		}
		rows = append(rows, row)
	}
	writeAligned(w, rows)
	var lines []string
	// A vertex that failed several rows is one cause, given once.
	for _, f := range m.Unbuilt() {
		lines = append(lines, fmt.Sprintf("%s: not built: %s", binaryNames(f.Binaries, len(m.Rows)), oneLine(f.Cause)))
	}
	// A column's cells that could not be run for one cause (its image did
	// not pull, no emulator) are one line naming their binaries.
	type notRunKey struct {
		column int
		cause  string
	}
	var notRun []notRunKey
	notRunBy := map[notRunKey][]string{}
	across := 0
	for _, r := range m.Rows {
		if r.Cells == nil {
			continue
		}
		for j, c := range r.Cells {
			switch {
			case c.OK:
			case c.OtherPlatform:
				across++
			case c.NotRun:
				k := notRunKey{j, oneLine(c.Cause)}
				if _, seen := notRunBy[k]; !seen {
					notRun = append(notRun, k)
				}
				notRunBy[k] = append(notRunBy[k], r.Binary.Name)
			default:
				lines = append(lines, fmt.Sprintf("✗ %s in %s: %s", r.Binary.Name, heads[j], oneLine(c.Cause)))
			}
		}
	}
	if across > 0 {
		lines = append(lines, fmt.Sprintf("✗ %d more: a binary in an image of another platform; not run, a binary needs a machine of its own platform (or an emulator)", across))
	}
	for _, k := range notRun {
		lines = append(lines, fmt.Sprintf("? %s in %s: %s", binaryNames(notRunBy[k], len(m.Rows)), heads[k.column], k.cause))
	}
	if len(lines) > 0 {
		fmt.Fprintln(w)
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
	}
}

// columnHeads names the columns by image, adding the platform when the
// list builds for more than one.
func columnHeads(cols []graph.Column) []string {
	plats := map[string]bool{}
	for _, c := range cols {
		plats[platforms.Format(c.Platform)] = true
	}
	heads := make([]string, len(cols))
	for i, c := range cols {
		heads[i] = c.Image.Ref
		if len(plats) > 1 {
			heads[i] += " (" + platforms.Format(c.Platform) + ")"
		}
	}
	return heads
}

// writeAligned pads columns by their width in runes, so ✓ and ✗ line up
// (tabwriter counts bytes).
func writeAligned(w io.Writer, rows [][]string) {
	var widths []int
	for _, r := range rows {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-len([]rune(c))+2))
			}
		}
		fmt.Fprintln(w, b.String())
	}
}
