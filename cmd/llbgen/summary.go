package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/llbgen/llbgen/pkg/daemon"
)

// writeSummary prints the table that ends `llbgen build`: one row per
// binary (a target on one platform), then one line per binary written
// without verification, then one line per cause of failure, naming the
// binaries it failed: a vertex that failed several binaries (the download,
// a static compile, an image two targets use) is one cause,
// given once with the binaries it failed (binaryNames), each of whose
// rows says FAILED (Outcome.Failures).
func writeSummary(w io.Writer, o *daemon.Outcome) {
	causes := o.Failures()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	// Built on several daemons (--addr PLATFORM=ADDR): which built each.
	fleet := len(o.Daemons) > 1
	head := "TARGET\tPLATFORM\tIMAGE\tFILE\tSIZE\tSHA256\tVERIFIED"
	if fleet {
		head += "\tDAEMON"
	}
	fmt.Fprintln(tw, head)
	for _, r := range o.Results {
		image := r.Target.Image.Ref
		if r.Digest != "" && !strings.Contains(image, "@") {
			image += "@" + shortDigest(r.Digest.String())
		}
		size, sum, verified := "-", "-", "FAILED"
		if r.Written() {
			size, sum, verified = humanSize(r.Size), r.SHA256[:12], "yes"
		}
		if r.Unverified != "" {
			verified = "NOT VERIFIED"
		}
		row := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s", r.Target.Name, r.Platform, image, r.File, size, sum, verified)
		if fleet {
			row += "\t" + r.Daemon
		}
		fmt.Fprintln(tw, row)
	}
	tw.Flush()
	dir := filepath.Clean(o.Out.Path()) + string(filepath.Separator)
	verified := len(o.Results) - o.Failed() - o.Unverified()
	fmt.Fprintf(w, "%d of %d binaries verified and written to %s\n", verified, len(o.Results), dir)
	if o.Unverified() > 0 {
		fmt.Fprintln(w, "written WITHOUT verification (they were never run in their image):")
		for _, r := range o.Results {
			if r.Unverified != "" {
				fmt.Fprintf(w, "  %s: %s\n", r.File, oneLine(r.Unverified))
			}
		}
	}
	if len(causes) > 0 {
		fmt.Fprintln(w, "failed (their files, if any, were left as they were):")
		for _, c := range causes {
			fmt.Fprintf(w, "  %s: %s\n", binaryNames(c.Binaries, len(o.Results)), oneLine(c.Cause))
		}
	}
	writeImages(w, o.Images)
	if o.CacheExport != "" {
		fmt.Fprintf(w, "build cache not exported: %s\n", oneLine(o.CacheExport))
	}
}

// writeImages prints one line per image the run was asked to publish:
// what was done with it and its digest, and what failed or why it was not
// published.
func writeImages(w io.Writer, imgs []daemon.ImageResult) {
	for _, img := range imgs {
		name := img.Name
		if name == "" {
			name = img.What
		} else {
			name = img.What + " " + name
		}
		var said []string
		if img.Done != "" {
			said = append(said, fmt.Sprintf("%s (%s)", img.Done, shortDigest(img.Digest)))
		}
		if img.Cause != "" {
			said = append(said, oneLine(img.Cause))
		}
		fmt.Fprintf(w, "%s: %s\n", name, strings.Join(said, "; "))
	}
}

// maxNames is how many binaries a cause's line names before "and N more".
const maxNames = 10

// binaryNames names the binaries a cause failed, of total in the run, in
// bounded space: "all N binaries" when it failed each of them (a shared
// stage of a long list), else at most maxNames names and how many more.
func binaryNames(names []string, total int) string {
	switch {
	case len(names) == total && total > 1:
		return fmt.Sprintf("all %d binaries", total)
	case len(names) > maxNames:
		return fmt.Sprintf("%s and %d more", strings.Join(names[:maxNames], ", "), len(names)-maxNames)
	}
	return strings.Join(names, ", ")
}

// shortDigest keeps the algorithm and 12 hex digits: enough to compare.
func shortDigest(d string) string {
	alg, hex, ok := strings.Cut(d, ":")
	if !ok || len(hex) <= 12 {
		return d
	}
	return alg + ":" + hex[:12]
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// oneLine is how every cause is printed: text from images, registries
// and the daemon, made one bounded line without control characters.
func oneLine(s string) string {
	return daemon.OneLine(s)
}
