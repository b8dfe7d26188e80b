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
	"github.com/llbgen/llbgen/pkg/targets"
)

// printed is what `llbgen build --print` shows: the list as llbgen will build
// it, defaults and derived names filled in, and, with a lock, the platform
// and the digests the build is pinned to.
type printed struct {
	Helper planHelper `json:"helper"`
	Go     planImage  `json:"go"`
	// Platform is the lock's: what targets without platforms are built
	// for; none without a lock (the daemon's).
	Platform string       `json:"platform,omitempty"`
	Output   string       `json:"output"`
	Targets  []planTarget `json:"targets"`
	// HelpersImage is the name --push and --load give the helpers image
	// (the list's publish.helpers); none without one.
	HelpersImage string `json:"helpersImage,omitempty"`
}

type planHelper struct {
	Module  string `json:"module"`
	Version string `json:"version"`
}

type planImage struct {
	Image  string `json:"image"`
	Ref    string `json:"ref"`
	Digest string `json:"digest,omitempty"` // the lock's pin; none: used by reference
}

type planTarget struct {
	Name string `json:"name"`
	planImage
	Cgo       bool     `json:"cgo,omitempty"`
	Setup     []string `json:"setup,omitempty"`
	Platforms []string `json:"platforms,omitempty"` // none: the daemon's
	// File is the target's one file; a target of several platforms has
	// Files instead.
	File  string     `json:"file,omitempty"`
	Files []planFile `json:"files,omitempty"`
	// JobImage is the name --push and --load give the target's job image
	// (the list's publish.images); none without one.
	JobImage string `json:"jobImage,omitempty"`
}

type planFile struct {
	Platform string `json:"platform"`
	File     string `json:"file"`
	Digest   string `json:"digest,omitempty"` // the image's, pinned by the lock
}

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

// printPlan writes p as JSON; locked: its images are the lock's.
func printPlan(w io.Writer, p *plan.Plan, locked bool, out string) (err error) {
	list := p.List
	pr := printed{
		Helper: planHelper{Module: targets.HelperModule, Version: list.Helper.Version},
		Go:     planImage{Image: list.Go.Ref, Ref: list.Go.Full},
		Output: out,
	}
	if locked {
		pr.Platform = platforms.Format(p.Graph.Platform)
		pr.Go.Digest = p.Graph.Images[graph.ImageKey{Ref: list.Go.Full, Platform: pr.Platform}].Digest.String()
	}
	for _, t := range list.Targets {
		pt := planTarget{Name: t.Name, planImage: planImage{Image: t.Image.Ref, Ref: t.Image.Full}, Cgo: t.Cgo, Setup: t.Setup}
		for _, tp := range t.Platforms {
			pt.Platforms = append(pt.Platforms, tp.String())
		}
		bins := t.Binaries()
		if len(bins) == 1 {
			pt.File, pt.Digest = bins[0].FileName(), p.Digest(bins[0]).String()
		} else {
			for _, b := range bins {
				pt.Files = append(pt.Files, planFile{Platform: platforms.Format(*b.Platform), File: b.FileName(), Digest: p.Digest(b).String()})
			}
		}
		if pt.JobImage, err = list.JobImageName(t); err != nil {
			return err
		}
		pr.Targets = append(pr.Targets, pt)
	}
	if pr.HelpersImage, err = list.HelpersImageName(); err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(pr); err != nil {
		return fmt.Errorf("printing the plan: %w", err)
	}
	return nil
}
