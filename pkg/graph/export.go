package graph

import (
	"strconv"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
)

// SumsFile is the checksum file written beside the binaries.
const SumsFile = "SHA256SUMS"

// export takes from each delivered binary's stage exactly its own files,
// by path, and adds SHA256SUMS, computed over exactly those binaries. No
// tree is merged: whatever else a stage's output held never lands.
//
// Its two copies are never taken from the cache: BuildKit matches a copy's
// inputs by content, and content checksums leave times out, so a cached
// copy from an earlier build of the same bytes (another SOURCE_DATE_EPOCH,
// or none) would export that build's file times. A copy of two files per
// binary costs nothing next to a compile.
func (b *builder) export(goImg, tool llb.State, bins []delivered) llb.State {
	all := llb.Scratch()
	if len(bins) > 0 {
		var fa *llb.FileAction
		for _, d := range bins {
			for _, f := range []string{"/" + d.file, "/" + d.file + BuildInfoSuffix} {
				fa = copyAfter(fa, d.st, f, f)
			}
		}
		all = all.File(fa, llb.WithCustomName("collect verified binaries"), llb.IgnoreCache, b.mark(Stage{Kind: KindExport}))
	}
	args := []string{toolBin, "sums", "-dir", verifyIn, "-out", verifyOut + "/" + SumsFile}
	if b.opt.SourceDateEpoch != nil {
		args = append(args, "-epoch", strconv.FormatInt(*b.opt.SourceDateEpoch, 10))
	}
	sums := goImg.
		User("0:0").
		Dir("/").
		Network(pb.NetMode_NONE).
		Run(
			llb.Args(args),
			llb.AddMount(toolDir, tool, llb.Readonly),
			llb.AddMount(verifyIn, all, llb.Readonly),
			llb.WithCustomName("write "+SumsFile),
			b.mark(Stage{Kind: KindExport}),
		).
		AddMount(verifyOut, llb.Scratch())
	return all.File(llb.Copy(sums, "/"+SumsFile, "/"+SumsFile), llb.WithCustomName("binaries and "+SumsFile), llb.IgnoreCache, b.mark(Stage{Kind: KindExport}))
}

// delivered is one binary's deliver stage and the file it holds.
type delivered struct {
	st   llb.State
	file string
}

// copyAfter adds a copy of src's from to to after fa's actions, or starts
// a file op with it when fa is nil.
func copyAfter(fa *llb.FileAction, src llb.State, from, to string, opts ...llb.CopyOption) *llb.FileAction {
	if fa == nil {
		return llb.Copy(src, from, to, opts...)
	}
	return fa.Copy(src, from, to, opts...)
}
