package graph

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/pkg/targets"
)

// Kind is what a stage of the graph is. Every vertex llbgen makes carries
// its Stage (see Stages), so a failure is explained from the failing
// vertex's digest, never from its display name.
type Kind string

// The stage kinds, in the order a binary meets them.
const (
	KindImage       Kind = "image"          // a target or toolchain image, pulled
	KindToolchain   Kind = "toolchain"      // the go image's toolchain, as a snapshot of its own to mount
	KindToolSource  Kind = "tool source"    // the stage tool's source files
	KindStageTool   Kind = "stage tool"     // llbgen's stage tool, compiled in the go image
	KindOwnTool     Kind = "own tool"       // llbgen's own executable as the stage tool, sent by the client
	KindDownload    Kind = "download"       // the helper module and its dependencies
	KindModuleCheck Kind = "module check"   // the module held against the lock
	KindStatic      Kind = "static compile" // the helper compiled once per platform: every static binary of it
	KindSetup       Kind = "setup"          // one setup command of a cgo target
	KindCompile     Kind = "compile"        // one cgo binary's compile, in its image
	KindFinish      Kind = "finish"         // a cgo binary with its build information, dated, in the go image
	KindVerify      Kind = "verify"         // one binary run in its image
	KindDeliver     Kind = "deliver"        // one binary copied out under its name once verified (or passed)
	KindVerdict     Kind = "verdict"        // a check's verdict alone, copied out for a cache export
	KindExport      Kind = "export"         // the binaries collected, SHA256SUMS
	KindCell        Kind = "matrix cell"    // one binary run in one image of the matrix
	KindImageOut    Kind = "image out"      // a job image's or the helpers image's own layer
)

// kindInfo is the one table of what each kind is: whether one vertex of it
// serves every binary of its platform (shared), and how a failure of it
// is named in a cause.
var kindInfo = map[Kind]struct {
	shared bool
	title  string
}{
	KindImage:       {false, "pulling the image"},
	KindToolchain:   {true, "preparing the go image's toolchain"},
	KindToolSource:  {true, "writing llbgen's stage tool source"},
	KindStageTool:   {true, "compiling llbgen's stage tool"},
	KindOwnTool:     {true, "sending llbgen's own executable as the stage tool"},
	KindDownload:    {true, "downloading the helper module"},
	KindModuleCheck: {true, "checking the helper module against the lock"},
	KindStatic:      {true, "compiling the helper"},
	KindSetup:       {false, "setup"},
	KindCompile:     {false, "compile"},
	KindFinish:      {false, "writing the binary's build information"},
	KindVerify:      {false, "verify"},
	KindDeliver:     {false, "delivering the binary"},
	KindVerdict:     {false, "keeping the check's verdict"},
	KindExport:      {true, "collecting the binaries and SHA256SUMS"},
	KindCell:        {false, "matrix cell"},
	KindImageOut:    {false, "making the image"},
}

// Shared reports whether one vertex of kind k serves several binaries
// (every binary of the list, or of its platform): its failure is the cause
// of each, reported once.
func (k Kind) Shared() bool { return kindInfo[k].shared }

// Title names a failure of kind k in a cause: "compiling the helper".
func (k Kind) Title() string { return kindInfo[k].title }

// Stage is what one vertex of the graph is and whom it serves.
type Stage struct {
	Kind Kind `json:"kind"`
	// Binaries names the binaries (targets.Binary.Name) the stage serves;
	// empty for a stage every binary of the list depends on (download,
	// stage tool, export), and for an image: one image vertex serves every
	// target that names it, and the graph's edges say which.
	Binaries []string `json:"binaries,omitempty"`
	// Platform is the platform built for (a compile's, a static compile's),
	// or run on (verify, cell), as platforms.Format writes it.
	Platform string `json:"platform,omitempty"`
	// Image is the reference (as written in the list) the stage is rooted
	// in or pulls, when that is a target's or the go image.
	Image string `json:"image,omitempty"`
	// Module is, in a list of several helpers, the helper module version
	// a download fetches or a static compile builds: module@version.
	Module string `json:"module,omitempty"`
	// Command is a setup step's command; Step and Steps say which of how many.
	Command string `json:"command,omitempty"`
	Step    int    `json:"step,omitempty"`
	Steps   int    `json:"steps,omitempty"`
}

// stageKey is the description key a vertex's Stage is stored under, as
// JSON, without its binaries: each binary has a key of its own, binaryKey
// and its name. BuildKit merges the descriptions of the ops that share a
// digest (two cgo targets of one image run the same setup, the static
// binaries of a platform share its compile), so a shared vertex is marked
// by every binary it serves.
const (
	stageKey  = "llbgen.stage"
	binaryKey = "llbgen.stage.binary."
)

// Serves reports whether the stage serves binary name.
func (s Stage) Serves(name string) bool {
	return len(s.Binaries) == 0 || slices.Contains(s.Binaries, name)
}

// Stages reads every vertex's Stage from a marshalled definition, by the
// vertex's digest (the digest BuildKit's progress and errdefs.VertexError
// name). A stage's Binaries are sorted. Vertices without one are left out.
func Stages(def *pb.Definition) map[digest.Digest]Stage {
	out := map[digest.Digest]Stage{}
	for d, md := range def.GetMetadata() {
		desc := md.GetDescription()
		raw, ok := desc[stageKey]
		if !ok {
			continue
		}
		var s Stage
		if err := json.Unmarshal([]byte(raw), &s); err != nil {
			continue
		}
		s.Binaries = nil
		for k := range desc {
			if name, ok := strings.CutPrefix(k, binaryKey); ok {
				s.Binaries = append(s.Binaries, name)
			}
		}
		slices.Sort(s.Binaries)
		out[digest.Digest(d)] = s
	}
	return out
}

// with marks a vertex as stage s: its description carries s. The
// description is metadata: it is in no cache key, so marking a stage
// changes no digest.
func (s Stage) with() llb.ConstraintsOpt {
	bins := s.Binaries
	s.Binaries = nil
	data, err := json.Marshal(s)
	if err != nil {
		panic(err) // strings and ints
	}
	desc := map[string]string{stageKey: string(data)}
	for _, b := range bins {
		desc[binaryKey+b] = ""
	}
	return llb.WithDescription(desc)
}

// marks is several constraints given as one option: a stage and where
// the list writes it.
type marks []llb.ConstraintsOpt

func (m marks) SetConstraintsOption(c *llb.Constraints) {
	for _, o := range m {
		o.SetConstraintsOption(c)
	}
}

func (m marks) SetRunOption(ei *llb.ExecInfo) {
	for _, o := range m {
		o.SetRunOption(ei)
	}
}

func (m marks) SetLocalOption(li *llb.LocalInfo) {
	for _, o := range m {
		o.SetLocalOption(li)
	}
}

func (m marks) SetHTTPOption(hi *llb.HTTPInfo) {
	for _, o := range m {
		o.SetHTTPOption(hi)
	}
}

func (m marks) SetImageBlobOption(ii *llb.ImageBlobInfo) {
	for _, o := range m {
		o.SetImageBlobOption(ii)
	}
}

func (m marks) SetImageOption(ii *llb.ImageInfo) {
	for _, o := range m {
		o.SetImageOption(ii)
	}
}

func (m marks) SetGitOption(gi *llb.GitInfo) {
	for _, o := range m {
		o.SetGitOption(gi)
	}
}

func (m marks) SetOCILayoutOption(oi *llb.OCILayoutInfo) {
	for _, o := range m {
		o.SetOCILayoutOption(oi)
	}
}

// mark marks a vertex as stage s, written at lines of the list: every llb
// operation llbgen makes gets one.
func (b *builder) mark(s Stage, at ...targets.Lines) llb.ConstraintsOpt {
	return append(marks{s.with()}, b.at(at...)...)
}

// binary is the stage of kind k that serves bin alone, on platform p.
func binary(k Kind, bin targets.Binary, p ocispecs.Platform) Stage {
	return Stage{Kind: k, Binaries: []string{bin.Name}, Platform: platforms.Format(p), Image: bin.Target.Image.Ref}
}
