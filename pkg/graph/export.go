package graph

import (
	"strconv"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
)

// SumsFile is the checksum file written beside the binaries.
const SumsFile = "SHA256SUMS"

// export merges the verified binaries and adds SHA256SUMS, computed over
// exactly those binaries.
func (b *builder) export(goImg, verifier llb.State, bins []llb.State) llb.State {
	all := llb.Merge(bins, llb.WithCustomName("collect verified binaries"))
	args := []string{verifierBin, "sums", "-dir", verifyIn, "-out", verifyOut + "/" + SumsFile}
	if b.opt.SourceDateEpoch != 0 {
		args = append(args, "-epoch", strconv.FormatInt(b.opt.SourceDateEpoch, 10))
	}
	sums := goImg.
		User("0:0").
		Dir("/").
		Network(pb.NetMode_NONE).
		Run(
			llb.Args(args),
			llb.AddMount(verifierDir, verifier, llb.Readonly),
			llb.AddMount(verifyIn, all, llb.Readonly),
			llb.WithCustomName("write "+SumsFile),
		).
		AddMount(verifyOut, llb.Scratch())
	return llb.Merge([]llb.State{all, sums}, llb.WithCustomName("binaries and "+SumsFile))
}
