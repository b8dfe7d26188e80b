package main

import (
	"os"

	"github.com/moby/buildkit/client"
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
	fs.StringArrayVar(&o.to, "cache-to", nil, "export the build cache once the binaries are written, as buildctl's --export-cache: type=registry,ref=REF[,mode=max] or type=local,dest=DIR; repeatable (default $"+envCacheTo+")")
	fs.StringArrayVar(&o.from, "cache-from", nil, "import a build cache, as buildctl's --import-cache: type=registry,ref=REF, type=local,src=DIR; repeatable (default $"+envCacheFrom+")")
}

// Validate reads the flags, else the environment, with BuildKit's parsers.
func (o *cacheOptions) Validate() error {
	exports, err := parseCaches(cacheFlag{"--cache-to", envCacheTo, "--export-cache", "dest", exampleCacheTo, build.ParseExportCache}, o.to)
	if err != nil {
		return err
	}
	imports, err := parseCaches(cacheFlag{"--cache-from", envCacheFrom, "--import-cache", "src", exampleCacheFrom, build.ParseImportCache}, o.from)
	if err != nil {
		return err
	}
	o.cache = daemon.Cache{Imports: imports, Exports: exports}
	return nil
}

// cacheFlag is one of the cache flags: its name, its environment variable,
// buildctl's flag of the same form, the attribute a local cache needs, an
// example, and BuildKit's parser.
type cacheFlag struct {
	name, env, buildctl, dir, example string
	parse                             func([]string) ([]client.CacheOptionsEntry, error)
}

// parseCaches reads values, else f's environment variable (one entry),
// each checked on its own so that a refusal names its source.
func parseCaches(f cacheFlag, values []string) ([]client.CacheOptionsEntry, error) {
	from := f.name
	if len(values) == 0 {
		if v := os.Getenv(f.env); v != "" {
			values, from = []string{v}, f.env
		}
	}
	var out []client.CacheOptionsEntry
	for _, v := range values {
		es, err := f.parse([]string{v})
		if err != nil {
			return nil, usagef("%s: %v; write it as buildctl's %s takes it, e.g. %s", from, err, f.buildctl, f.example)
		}
		if err := checkCacheEntry(from, es[0], f.dir, f.example); err != nil {
			return nil, err
		}
		out = append(out, es...)
	}
	return out, nil
}

// checkCacheEntry refuses a cache llbgen does not take, or one without the
// attribute it cannot go without (found only once built otherwise): a
// registry's ref, a local directory's dir ("dest" to export to, "src" to
// import from). Only registry and local caches are taken: the others carry
// credentials in their attributes (gha's token, s3's keys), which BuildKit
// records in its build history with the build's options; inline rides in
// pushed images, dated, so that the same binaries would no longer make the
// same images, and caches no compile. Messages never repeat the value.
func checkCacheEntry(flag string, e client.CacheOptionsEntry, dir, example string) error {
	key := ""
	switch e.Type {
	case "registry":
		key = "ref"
	case "local":
		key = dir
	case "inline":
		return usagef("%s: type=inline is not taken: it rides in pushed images (their digests would change with every run) and caches no compile; use a registry cache, e.g. %s", flag, example)
	default:
		t := e.Type
		if len(t) > 32 {
			t = t[:32] + "..."
		}
		return usagef("%s: type %q is not taken: only type=registry and type=local (the others carry credentials in their attributes, which BuildKit records in its build history); e.g. %s", flag, t, example)
	}
	if e.Attrs[key] == "" {
		return usagef("%s: type=%s needs %s=; e.g. %s", flag, e.Type, key, example)
	}
	return nil
}
