package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/containerd/platforms"

	"github.com/llbgen/llbgen/pkg/targets"
)

// printed is what `llbgen build --print` shows: the list as llbgen will build
// it, defaults and derived names filled in.
type printed struct {
	Helper  planHelper   `json:"helper"`
	Go      planImage    `json:"go"`
	Output  string       `json:"output"`
	Targets []planTarget `json:"targets"`
}

type planHelper struct {
	Module  string `json:"module"`
	Version string `json:"version"`
}

type planImage struct {
	Image string `json:"image"`
	Ref   string `json:"ref"`
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
}

type planFile struct {
	Platform string `json:"platform"`
	File     string `json:"file"`
}

func printPlan(w io.Writer, list *targets.List, out string) error {
	p := printed{
		Helper: planHelper{Module: targets.HelperModule, Version: list.Helper.Version},
		Go:     planImage{Image: list.Go.Ref, Ref: list.Go.Full},
		Output: out,
	}
	for _, t := range list.Targets {
		pt := planTarget{Name: t.Name, planImage: planImage{Image: t.Image.Ref, Ref: t.Image.Full}, Cgo: t.Cgo, Setup: t.Setup}
		for _, tp := range t.Platforms {
			pt.Platforms = append(pt.Platforms, tp.String())
		}
		bins := t.Binaries()
		if len(bins) == 1 {
			pt.File = bins[0].FileName()
		} else {
			for _, b := range bins {
				pt.Files = append(pt.Files, planFile{Platform: platforms.Format(*b.Platform), File: b.FileName()})
			}
		}
		p.Targets = append(p.Targets, pt)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(p); err != nil {
		return fmt.Errorf("printing the plan: %w", err)
	}
	return nil
}
