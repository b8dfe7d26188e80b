package main

import (
	"strings"
	"testing"
)

// The cache flags take buildctl's forms for registry and local caches;
// anything else is refused before anything is built (exit 2), and a
// refusal never repeats the value (other caches carry credentials).
func TestCacheFlags(t *testing.T) {
	for _, c := range []struct {
		name     string
		to, from []string
		env      map[string]string
		want     string // in the refusal; "" accepted
		exports  int
		imports  int
	}{
		{name: "registry", to: []string{"type=registry,ref=reg.example.com/c,mode=max"}, from: []string{"type=registry,ref=reg.example.com/c"}, exports: 1, imports: 1},
		{name: "local", to: []string{"type=local,dest=/tmp/c"}, from: []string{"type=local,src=/tmp/c"}, exports: 1, imports: 1},
		{name: "from the environment", env: map[string]string{envCacheTo: "type=registry,ref=r/c,mode=max", envCacheFrom: "type=registry,ref=r/c"}, exports: 1, imports: 1},
		{name: "flags over the environment", to: []string{"type=local,dest=/tmp/c"}, env: map[string]string{envCacheTo: "type=gha,token=SECRET"}, exports: 1},
		{name: "the environment refused by its name", env: map[string]string{envCacheFrom: "type=local"}, want: envCacheFrom + ": type=local needs src="},
		{name: "registry without ref", to: []string{"type=registry"}, want: "--cache-to: type=registry needs ref="},
		{name: "local without dest", to: []string{"type=local,src=/x"}, want: "--cache-to: type=local needs dest="},
		{name: "a misspelt type", from: []string{"type=regsitry,ref=x"}, want: `--cache-from: type "regsitry" is not taken`},
		{name: "inline", to: []string{"type=inline"}, want: "--cache-to: type=inline is not taken"},
		{name: "s3 with its keys", to: []string{"type=s3,region=x,secret_access_key=SECRET"}, want: `type "s3" is not taken`},
		{name: "gha with its token", from: []string{"type=gha,url=https://x,token=SECRET"}, want: `type "gha" is not taken`},
		{name: "not a form", to: []string{"type=s3,secret_access_key=SECRET,bogus"}, want: "--cache-to: invalid value bogus"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(envCacheTo, c.env[envCacheTo])
			t.Setenv(envCacheFrom, c.env[envCacheFrom])
			o := cacheOptions{to: c.to, from: c.from}
			err := o.Validate()
			if c.want == "" {
				if err != nil || len(o.cache.Exports) != c.exports || len(o.cache.Imports) != c.imports {
					t.Errorf("%v; %d exports, %d imports", err, len(o.cache.Exports), len(o.cache.Imports))
				}
				return
			}
			if _, usage := err.(usageError); !usage || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%v, want a usage error with %q", err, c.want)
			}
			if err != nil && strings.Contains(err.Error(), "SECRET") {
				t.Errorf("the refusal repeats a credential: %v", err)
			}
		})
	}
}
