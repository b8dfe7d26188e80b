package main

import (
	"context"
	"fmt"
	"time"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/targets"
)

// measureGeneration times the client side alone: a list of n targets to
// definition bytes, as `llbgen > def` does after reading the file.
func measureGeneration(n, runs int) ([]time.Duration, error) {
	var yaml []byte
	yaml = append(yaml, "helper:\n  version: v0.12.0\ntargets:\n"...)
	for i := range n {
		yaml = fmt.Appendf(yaml, "  - image: registry.example/team/image-%d:1\n", i)
	}
	var out []time.Duration
	for range runs {
		start := time.Now()
		list, err := targets.Parse("generated.yaml", yaml)
		if err != nil {
			return nil, err
		}
		g, err := graph.Define(list, graph.Options{})
		if err != nil {
			return nil, err
		}
		if _, err := graph.Definition(context.Background(), g.Output, graph.DefaultPlatform()); err != nil {
			return nil, err
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}
