package graph

import (
	"fmt"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/pkg/targets"
)

// CellFile is the file a matrix cell writes: JSON {ok, output, cause,
// other_platform, not_run} (see the stage tool's cell mode).
const CellFile = "cell.json"

// Column is one image of the matrix: a target's image on one platform.
type Column struct {
	Image    targets.Image
	Platform ocispecs.Platform
}

// Key is the column's image and platform.
func (c Column) Key() ImageKey {
	return ImageKey{Ref: c.Image.Full, Platform: platforms.Format(c.Platform)}
}

// Columns lists the images the list's binaries are built for, each once,
// in list order: the matrix's columns.
func (g *Graph) Columns() []Column {
	var cols []Column
	seen := map[ImageKey]bool{}
	for _, bin := range g.b.list.Binaries() {
		c := Column{Image: bin.Target.Image, Platform: g.b.platformOf(bin)}
		if !seen[c.Key()] {
			seen[c.Key()] = true
			cols = append(cols, c)
		}
	}
	return cols
}

// Cell runs a built binary (a targets.Binary's Name) in a column's image,
// network none, without a shell, like verify, but never fails because the
// binary did: its result holds CellFile, which says whether the binary ran
// and reported the expected version, and if not, why.
func (g *Graph) Cell(binary string, col Column) (llb.State, error) {
	b := g.b
	built, ok := g.Compiled[binary]
	if !ok {
		return llb.State{}, fmt.Errorf("no binary %q in the graph", binary)
	}
	var at targets.Lines
	var hb *helperBuild
	for _, bin := range b.list.Binaries() {
		if bin.Name == binary {
			at, hb = bin.Target.Lines, b.helperOf(bin)
		}
	}
	img, err := b.image(col.Image, col.Platform)
	if err != nil {
		return llb.State{}, err
	}
	run := b.toolRoot(img).
		Run(
			llb.Args(append([]string{toolBin, "cell",
				"-want", hb.spec.Want(hb.version()),
				"-in", verifyIn + "/" + hb.binName(),
				"-out", verifyOut + "/" + CellFile,
				"-platform", platforms.Format(col.Platform),
			}, hb.checkArgs()...)),
			llb.AddMount(toolDir, b.toolSt, llb.Readonly),
			llb.AddMount(verifyIn, built, llb.Readonly),
			withTmp(),
			llb.WithCustomName(fmt.Sprintf("run %s in %s (%s)", binary, col.Image.Ref, platforms.Format(col.Platform))),
			b.mark(Stage{Kind: KindCell, Binaries: []string{binary}, Platform: platforms.Format(col.Platform), Image: col.Image.Ref}, at),
			// A cell judges this daemon at this moment (its emulators, its
			// load): never taken from the cache of an earlier run.
			llb.IgnoreCache,
		)
	return run.AddMount(verifyOut, llb.Scratch()), nil
}
