package graph

import (
	"encoding/json"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
)

// Kind is what a stage of the graph is. Every vertex llbgen makes carries
// its Stage (see Stages), so a failure is explained from the failing
// vertex's digest, never from its display name.
type Kind string

// The stage kinds, in the order a binary meets them.
const (
	KindImage       Kind = "image"        // a target or toolchain image, pulled
	KindToolSource  Kind = "tool source"  // the stage tool's source files
	KindStageTool   Kind = "stage tool"   // llbgen's stage tool, compiled in the go image
	KindDownload    Kind = "download"     // the helper module and its dependencies
	KindModuleCheck Kind = "module check" // the module held against the lock
	KindWarm        Kind = "warm compile" // the helper compiled once per platform, shared
	KindSetup       Kind = "setup"        // one setup command of a cgo target
	KindCompile     Kind = "compile"      // one binary's compile
	KindVerify      Kind = "verify"       // one binary run in its image
	KindDeliver     Kind = "deliver"      // one binary copied out once verified (or passed)
	KindExport      Kind = "export"       // the binaries collected, SHA256SUMS
	KindCell        Kind = "matrix cell"  // one binary run in one image of the matrix
)

// kindInfo is the one table of what each kind is: whether one vertex of it
// serves every binary of its platform (shared), and how a failure of it
// is named in a cause.
var kindInfo = map[Kind]struct {
	shared bool
	title  string
}{
	KindImage:       {false, "pulling the image"},
	KindToolSource:  {true, "writing llbgen's stage tool source"},
	KindStageTool:   {true, "compiling llbgen's stage tool"},
	KindDownload:    {true, "downloading the helper module"},
	KindModuleCheck: {true, "checking the helper module against the lock"},
	KindWarm:        {true, "compiling the helper"},
	KindSetup:       {false, "setup"},
	KindCompile:     {false, "compile"},
	KindVerify:      {false, "verify"},
	KindDeliver:     {false, "delivering the binary"},
	KindExport:      {true, "collecting the binaries and SHA256SUMS"},
	KindCell:        {false, "matrix cell"},
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
	// stage tool, export).
	Binaries []string `json:"binaries,omitempty"`
	// Platform is the platform built for (a compile's, a warm compile's),
	// or run on (verify, cell), as platforms.Format writes it.
	Platform string `json:"platform,omitempty"`
	// Image is the reference (as written in the list) the stage is rooted
	// in or pulls, when that is a target's or the go image.
	Image string `json:"image,omitempty"`
	// Command is a setup step's command; Step and Steps say which of how many.
	Command string `json:"command,omitempty"`
	Step    int    `json:"step,omitempty"`
	Steps   int    `json:"steps,omitempty"`
}

// stageKey is the description key a vertex's Stage is stored under, as JSON.
const stageKey = "llbgen.stage"

// Serves reports whether the stage serves binary name.
func (s Stage) Serves(name string) bool {
	if len(s.Binaries) == 0 {
		return true
	}
	for _, b := range s.Binaries {
		if b == name {
			return true
		}
	}
	return false
}

// Stages reads every vertex's Stage from a marshalled definition, by the
// vertex's digest (the digest BuildKit's progress and errdefs.VertexError
// name). Vertices without one are left out.
func Stages(def *pb.Definition) map[digest.Digest]Stage {
	out := map[digest.Digest]Stage{}
	for d, md := range def.GetMetadata() {
		raw, ok := md.GetDescription()[stageKey]
		if !ok {
			continue
		}
		var s Stage
		if err := json.Unmarshal([]byte(raw), &s); err != nil {
			continue
		}
		out[digest.Digest(d)] = s
	}
	return out
}

// with marks a vertex as stage s: its description carries s. Every llb
// operation llbgen makes gets one. The description is metadata: it is in
// no cache key, so marking a stage changes no digest.
func (s Stage) with() llb.ConstraintsOpt {
	data, err := json.Marshal(s)
	if err != nil {
		panic(err) // strings and ints
	}
	return llb.WithDescription(map[string]string{stageKey: string(data)})
}
