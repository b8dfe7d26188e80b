package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/llbgen/llbgen/pkg/targets"
)

// plan is what `llbgen build --print` shows: the list as llbgen will build
// it, defaults and derived names filled in.
type plan struct {
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
	File string `json:"file"`
}

func printPlan(w io.Writer, list *targets.List, out string) error {
	p := plan{
		Helper: planHelper{Module: targets.HelperModule, Version: list.Helper.Version},
		Go:     planImage{Image: list.Go.Ref, Ref: list.Go.Full},
		Output: out,
	}
	for _, t := range list.Targets {
		p.Targets = append(p.Targets, planTarget{Name: t.Name, planImage: planImage{Image: t.Image.Ref, Ref: t.Image.Full}, File: t.FileName()})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(p); err != nil {
		return fmt.Errorf("printing the plan: %w", err)
	}
	return nil
}
