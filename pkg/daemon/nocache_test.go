package daemon

import (
	"context"
	"testing"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
)

// --no-cache marks every vertex of a binary's definition to be solved
// again; the sessions after the binaries' (cache export, provenance,
// images) marshal without it, so they take what was built, never build
// again. Without --no-cache, nothing is marked.
func TestNoCacheOnlyInTheBinariesSessions(t *testing.T) {
	st := llb.Image("docker.io/library/alpine:3").Run(llb.Shlex("true")).Root().File(llb.Mkdir("/x", 0o755))
	ignored := func(def *pb.Definition) (all, none bool) {
		if len(def.Metadata) < 3 {
			t.Fatalf("%d vertices' metadata", len(def.Metadata))
		}
		all, none = true, true
		last := string(digest.FromBytes(def.Def[len(def.Def)-1])) // the result, no vertex
		for dg, md := range def.Metadata {
			if dg == last {
				continue
			}
			all = all && md.IgnoreCache
			none = none && !md.IgnoreCache
		}
		return all, none
	}
	for _, noCache := range []bool{false, true} {
		s := &solve{opt: Options{NoCache: noCache}, worker: worker{platform: amd64}, col: newCollector()}
		var binary *pb.Definition
		if err := s.startBinary(context.Background(), []llb.State{st}, func(defs []*pb.Definition) error { binary = defs[0]; return nil }); err != nil {
			t.Fatal(err)
		}
		if all, none := ignored(binary); noCache && !all || !noCache && !none {
			t.Errorf("NoCache %v: a binary's definition has IgnoreCache on all %v, on none %v", noCache, all, none)
		}
		later, err := s.definition(context.Background(), func() (llb.State, error) { return st, nil })
		if err != nil {
			t.Fatal(err)
		}
		if _, none := ignored(later); !none {
			t.Errorf("NoCache %v: a later session's definition ignores the cache", noCache)
		}
	}
}
