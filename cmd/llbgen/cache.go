package main

import (
	"os"

	"github.com/moby/buildkit/cmd/buildctl/build"
	"github.com/spf13/pflag"

	"github.com/llbgen/llbgen/pkg/daemon"
)

// cacheOptions are the remote build cache flags: buildctl's forms, read
// by BuildKit's own parsers.
type cacheOptions struct {
	to, from []string
	cache    daemon.Cache // Validate's
}

// Environment variables for the cache flags, one entry each, for CI
// configurations that set them once for every job.
const (
	envCacheTo   = "LLBGEN_CACHE_TO"
	envCacheFrom = "LLBGEN_CACHE_FROM"
)

// Examples messages suggest.
const (
	exampleCacheTo   = "type=registry,ref=registry.example.com/ci/llbgen-cache,mode=max"
	exampleCacheFrom = "type=registry,ref=registry.example.com/ci/llbgen-cache"
)

func (o *cacheOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.to, "cache-to", nil, "export the build cache once the binaries are built, as buildctl's --export-cache: type=registry,ref=REF[,mode=max], type=local,dest=DIR, type=inline (in the pushed images); repeatable (default $"+envCacheTo+")")
	fs.StringArrayVar(&o.from, "cache-from", nil, "import a build cache, as buildctl's --import-cache: type=registry,ref=REF, type=local,src=DIR; repeatable (default $"+envCacheFrom+")")
}

// Validate reads the flags, else the environment, with BuildKit's parsers;
// push says whether images are pushed, which an inline cache rides in.
func (o *cacheOptions) Validate(push bool) error {
	to, toFrom := o.to, "--cache-to"
	if len(to) == 0 {
		if v := os.Getenv(envCacheTo); v != "" {
			to, toFrom = []string{v}, envCacheTo
		}
	}
	from, fromFrom := o.from, "--cache-from"
	if len(from) == 0 {
		if v := os.Getenv(envCacheFrom); v != "" {
			from, fromFrom = []string{v}, envCacheFrom
		}
	}
	for _, v := range to {
		if _, err := build.ParseExportCache([]string{v}); err != nil {
			return usagef("%s %q: %v; write it as buildctl's --export-cache takes it, e.g. %s", toFrom, v, err, exampleCacheTo)
		}
	}
	for _, v := range from {
		if _, err := build.ParseImportCache([]string{v}); err != nil {
			return usagef("%s %q: %v; write it as buildctl's --import-cache takes it, e.g. %s", fromFrom, v, err, exampleCacheFrom)
		}
	}
	exports, _ := build.ParseExportCache(to)
	imports, _ := build.ParseImportCache(from)
	for i, e := range exports {
		if e.Type == "inline" && !push {
			return usagef("%s type=inline: an inline cache rides in pushed images, and this run pushes none; add --push, or export to a registry: %s", toFrom, exampleCacheTo)
		}
		if key := needs(e.Type, "dest"); key != "" && e.Attrs[key] == "" {
			return usagef("%s %q: type=%s needs %s=; e.g. %s", toFrom, to[i], e.Type, key, exampleCacheTo)
		}
	}
	for i, e := range imports {
		if key := needs(e.Type, "src"); key != "" && e.Attrs[key] == "" {
			return usagef("%s %q: type=%s needs %s=; e.g. %s", fromFrom, from[i], e.Type, key, exampleCacheFrom)
		}
	}
	o.cache = daemon.Cache{Imports: imports, Exports: exports}
	return nil
}

// needs is the attribute a cache of type typ cannot go without, found only
// once built otherwise: a registry's ref, a local directory's dir ("dest"
// to export to, "src" to import from).
func needs(typ, dir string) string {
	switch typ {
	case "registry":
		return "ref"
	case "local":
		return dir
	}
	return ""
}
