package daemon

import (
	"context"
	"fmt"
	"testing"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/targets"
)

// No exec of the graph mounts one snapshot twice. When such an exec fails,
// BuildKit's gateway (v0.34.2, llbBridgeForwarder.registerResultIDsLocked)
// registers the failed exec's inputs, then its mounts: a read-only mount's
// clone of a snapshot that an earlier mount also uses is released once for
// each, and the second release's error ("releasing already released
// reference WORKER::REF") is what gc.Solve returns, in place of the exec's
// error and its VertexError. With a go image whose toolchain does not
// compile, that was the summary of every binary.
//
// A snapshot is the same when the input is the same, or when two inputs
// pull the same image (two image ops of one image share their snapshot).
func TestNoExecMountsASnapshotTwice(t *testing.T) {
	lists := map[string]string{
		"static": `helper: {version: v0.12.0}
targets:
  - image: docker:19.03.12
  - image: alpine:3.12
    platforms: [linux/amd64, linux/arm64]
`,
		"a target that is the go image": `helper: {version: v0.12.0}
go: golang:1.26
targets:
  - image: golang:1.26
  - image: golang:1.26
    name: golang-cgo
    cgo: true
`,
		"cgo with setup": `helper: {version: v0.12.0}
targets:
  - image: gitlab/gitlab-runner:v13.2.1
    cgo: true
    setup: [apt-get update]
    platforms: [linux/amd64, linux/arm64]
`,
	}
	for name, yaml := range lists {
		t.Run(name, func(t *testing.T) {
			l, err := targets.Parse("targets.yaml", []byte(yaml))
			if err != nil {
				t.Fatal(err)
			}
			amd64 := platforms.MustParse("linux/amd64")
			g, err := graph.Define(l, graph.Options{Platform: amd64})
			if err != nil {
				t.Fatal(err)
			}
			states := []llb.State{g.Output}
			for _, b := range l.Binaries() {
				states = append(states, g.Delivered[b.Name])
				for _, c := range g.Columns() {
					if platforms.Format(c.Platform) != platforms.Format(binaryPlatform(b, amd64)) {
						continue
					}
					st, err := g.Cell(b.Name, c)
					if err != nil {
						t.Fatal(err)
					}
					states = append(states, st)
				}
			}
			ops := map[digest.Digest]*pb.Op{}
			names := map[digest.Digest]string{}
			for _, st := range states {
				def, err := st.Marshal(context.Background(), llb.Platform(amd64))
				if err != nil {
					t.Fatal(err)
				}
				for _, dt := range def.Def {
					var op pb.Op
					if err := op.Unmarshal(dt); err != nil {
						t.Fatal(err)
					}
					dg := digest.FromBytes(dt)
					ops[dg], names[dg] = &op, def.Metadata[dg].Description["llb.customname"]
				}
			}
			execs := 0
			for dg, op := range ops {
				if op.GetExec() == nil {
					continue
				}
				execs++
				seen := map[string]string{}
				for _, m := range op.GetExec().Mounts {
					if m.Input < 0 {
						continue
					}
					in := op.Inputs[m.Input]
					snap := fmt.Sprintf("%s:%d", in.Digest, in.Index)
					if src := ops[digest.Digest(in.Digest)].GetSource(); src != nil {
						snap = src.Identifier
					}
					if other, ok := seen[snap]; ok {
						t.Errorf("%q mounts %s at %s and at %s", names[dg], snap, other, m.Dest)
					}
					seen[snap] = m.Dest
				}
			}
			if execs == 0 {
				t.Fatal("no exec looked at")
			}
		})
	}
}

func binaryPlatform(b targets.Binary, def platforms.Platform) platforms.Platform {
	if b.Platform != nil {
		return *b.Platform
	}
	return def
}
