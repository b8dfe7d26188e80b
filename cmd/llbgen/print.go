package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/containerd/platforms"
	"github.com/spf13/pflag"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/plan"
	"github.com/llbgen/llbgen/pkg/publish"
)

// printPlanned is `llbgen build --print`: the plan a build makes before it
// contacts a daemon (plan.Make without one, as the pipe plans), so --print
// refuses what the build would refuse (a lock that does not cover the
// list, a bad SOURCE_DATE_EPOCH) and shows what the lock pins.
func printPlanned(ctx context.Context, w io.Writer, o *listOptions, flags *pflag.FlagSet, locked bool, out string) error {
	_, in, err := o.planned(flags, locked)
	if err != nil {
		return err
	}
	p, err := plan.Make(ctx, in, plan.Daemon{})
	if err != nil {
		return err
	}
	return printPlan(w, p, in.Lock != nil, out)
}

// printPlan writes p as JSON in the metadata file's encoding (metadata),
// with what is known before building: per binary its target, line,
// platform (none: the daemon's), image, file and, with a lock, the pinned
// digests and the helper's sum; its status is "planned". locked: its
// images are the lock's.
func printPlan(w io.Writer, p *plan.Plan, locked bool, out string) error {
	list := p.List
	m := metadata{
		Llbgen:   versionLine(),
		List:     list.File,
		Helpers:  metaHelpers(list, nil, nil, nil),
		Go:       metaImage{Ref: list.Go.Full},
		Output:   out,
		Binaries: []metaBinary{},
	}
	if locked {
		m.Helpers = metaHelpers(list, p.Graph.Locked, nil, nil)
		m.Go.Digest = p.Graph.Images[graph.ImageKey{Ref: list.Go.Full, Platform: platforms.Format(p.Graph.Platform)}].Digest.String()
	}
	m.Helper = m.Helpers[0]
	for _, b := range list.Binaries() {
		mb := metaBinary{
			Target: b.Target.Name, Helper: b.Helper.FileName(), Line: b.Target.Pos.Line, Image: b.Target.Image.Full,
			ImageDigest: p.Digest(b).String(), File: b.FileName(), Status: statusPlanned,
			Cgo: b.Cgo(), Setup: b.Target.Setup,
		}
		if b.Platform != nil || locked {
			mb.Platform = platforms.Format(p.PlatformOf(b))
		}
		m.Binaries = append(m.Binaries, mb)
	}
	m.Summary = metadataSummary{Binaries: len(m.Binaries), Planned: len(m.Binaries)}
	imgs, err := publish.Images(list, p.PlatformOf)
	if err != nil {
		return err
	}
	for _, img := range imgs {
		m.Images = append(m.Images, metaImageOut{What: img.What(), Name: img.Name})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return fmt.Errorf("printing the plan: %w", err)
	}
	return nil
}
