// Package gwcache makes every solve of a gateway client import the
// build's remote cache.
//
// BuildKit hands a build's cache imports (buildctl --import-cache, buildx
// --cache-from) to its frontend, or to a client's build function, as the
// option "cache-imports"; the solves that frontend makes import them only
// when each SolveRequest names them, as the Dockerfile frontend does.
package gwcache

import (
	"context"
	"encoding/json"
	"fmt"

	gateway "github.com/moby/buildkit/frontend/gateway/client"
)

// optKey is the option BuildKit gives the imports in (dockerui's
// keyCacheImports).
const optKey = "cache-imports"

// Imports are the cache imports c's build was given.
func Imports(c gateway.Client) ([]gateway.CacheOptionsEntry, error) {
	raw := c.BuildOpts().Opts[optKey]
	if raw == "" {
		return nil, nil
	}
	var entries []struct {
		Type  string            `json:"Type"`
		Attrs map[string]string `json:"Attrs"`
	}
	if err := json.Unmarshal([]byte(raw), &entries); err != nil {
		return nil, fmt.Errorf("reading the build's %s: %w", optKey, err)
	}
	out := make([]gateway.CacheOptionsEntry, 0, len(entries))
	for _, e := range entries {
		out = append(out, gateway.CacheOptionsEntry{Type: e.Type, Attrs: e.Attrs})
	}
	return out, nil
}

// Client is a gateway client whose solves import its build's cache,
// unless a request names imports of its own.
func Client(c gateway.Client) (gateway.Client, error) {
	imports, err := Imports(c)
	if err != nil || len(imports) == 0 {
		return c, err
	}
	return importing{Client: c, imports: imports}, nil
}

type importing struct {
	gateway.Client
	imports []gateway.CacheOptionsEntry
}

func (c importing) Solve(ctx context.Context, req gateway.SolveRequest) (*gateway.Result, error) {
	if len(req.CacheImports) == 0 {
		req.CacheImports = c.imports
	}
	return c.Client.Solve(ctx, req)
}
