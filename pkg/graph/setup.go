package graph

import (
	"fmt"

	"github.com/moby/buildkit/client/llb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/pkg/targets"
)

// stdPath is the PATH every stage that runs the image's own programs gets.
const stdPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// setup runs a cgo target's setup commands in its image, one exec each, as
// root in /, network on (package mirrors), with /bin/sh. Their result is
// the compile stage's root; the binary is still verified in the image as
// it is, without what setup installed. The commands run on the binary's
// platform, emulated when it is not the daemon's.
func (b *builder) setup(bin targets.Binary, img llb.State, p ocispecs.Platform) llb.State {
	st := img.
		Platform(p).
		AddEnv("PATH", stdPath).
		AddEnv("HOME", "/root").
		AddEnv("DEBIAN_FRONTEND", "noninteractive").
		User("0:0").
		Dir("/")
	n := len(bin.Target.Setup)
	for i, cmd := range bin.Target.Setup {
		stage := binary(KindSetup, bin, p)
		stage.Command, stage.Step, stage.Steps = cmd, i+1, n
		st = st.Run(
			llb.Args([]string{"/bin/sh", "-c", cmd}),
			llb.WithCustomName(fmt.Sprintf("setup %s (%d/%d): %s", bin.Name, i+1, n, cmd)),
			b.mark(stage, bin.Target.Lines),
		).Root()
	}
	return st
}
