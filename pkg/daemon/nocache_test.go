package daemon

import (
	"context"
	"testing"

	"github.com/moby/buildkit/client/llb"
	digest "github.com/opencontainers/go-digest"
)

// --no-cache marks every vertex of every definition to be solved again;
// without it, none is.
func TestNoCacheIgnoresEveryVertexCache(t *testing.T) {
	mk := func() (llb.State, error) {
		return llb.Image("docker.io/library/alpine:3").Run(llb.Shlex("true")).Root().File(llb.Mkdir("/x", 0o755)), nil
	}
	for _, noCache := range []bool{false, true} {
		s := &solve{opt: Options{NoCache: noCache}}
		def, err := s.definitionFor(context.Background(), mk, amd64)
		if err != nil {
			t.Fatal(err)
		}
		if len(def.Metadata) < 3 {
			t.Fatalf("%d vertices", len(def.Metadata))
		}
		last := digest.FromBytes(def.Def[len(def.Def)-1]) // the result, no vertex
		for dg, md := range def.Metadata {
			if dg != string(last) && md.IgnoreCache != noCache {
				t.Errorf("NoCache %v: vertex %s has IgnoreCache %v", noCache, dg, md.IgnoreCache)
			}
		}
	}
}
