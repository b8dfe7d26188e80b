package graph

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/pkg/targets"
)

// stageYAML has a vertex of every kind: static targets (two of one image,
// whose compiles are one vertex), cgo targets with setup (two with the same
// setup, which is one vertex), a cgo target of another platform, and a
// multi-platform target, one of whose platforms the daemon cannot run.
const stageYAML = `helper:
  version: v0.12.0
go: golang:1.26
targets:
  - image: docker:19.03.12
    name: a
  - image: docker:19.03.12
    name: b
  - image: gitlab/gitlab-runner:v13.2.1
    name: runner-cgo
    cgo: true
    setup: [apt-get update, apt-get install -y gcc libc6-dev]
  - image: gitlab/gitlab-runner:v13.2.1
    name: runner-cgo-too
    cgo: true
    setup: [apt-get update, apt-get install -y gcc libc6-dev]
  - image: alpine:3.12
    name: cgo-arm
    cgo: true
    platforms: [linux/arm64]
    setup: [apk add gcc musl-dev]
  - image: alpine:3.12
    name: multi
    platforms: [linux/amd64, linux/arm64, linux/riscv64]
`

func stageList(t *testing.T) *targets.List {
	t.Helper()
	l, err := targets.Parse("targets.yaml", []byte(stageYAML))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// stageOptions lock the module (a module check) and cannot run riscv64
// (a pass).
func stageOptions() Options {
	return Options{
		Platform: amd64,
		Locked:   ecrLocked(LockedModule{Sum: "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", Commit: "0123456", Time: "2025-01-01T00:00:00Z"}),
		CanRun:   func(p ocispecs.Platform) bool { return p.Architecture != "riscv64" },
	}
}

// marshalled is a definition with its ops decoded.
type marshalled struct {
	def *pb.Definition
	ops map[digest.Digest]*pb.Op
}

func marshalAll(t *testing.T, states ...llb.State) *marshalled {
	t.Helper()
	m := &marshalled{def: &pb.Definition{Metadata: map[string]*pb.OpMetadata{}}, ops: map[digest.Digest]*pb.Op{}}
	for _, st := range states {
		def, err := st.Marshal(context.Background(), llb.Platform(amd64))
		if err != nil {
			t.Fatal(err)
		}
		p := def.ToPB()
		for _, dt := range p.Def[:len(p.Def)-1] { // the last is the output, no op
			var op pb.Op
			if err := op.Unmarshal(dt); err != nil {
				t.Fatal(err)
			}
			d := digest.FromBytes(dt)
			md := m.def.Metadata[string(d)]
			if md == nil {
				md = &pb.OpMetadata{Description: map[string]string{}}
				m.ops[d] = &op
				m.def.Def = append(m.def.Def, dt)
				m.def.Metadata[string(d)] = md
			}
			// An op in several definitions: its marks as one solve of
			// them all would merge them.
			maps.Copy(md.Description, p.Metadata[string(d)].GetDescription())
		}
	}
	return m
}

// head is the digest of the op that makes st.
func head(t *testing.T, st llb.State) digest.Digest {
	t.Helper()
	def, err := st.Marshal(context.Background(), llb.Platform(amd64))
	if err != nil {
		t.Fatal(err)
	}
	d, err := def.Head()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// mountInput is the digest of the op that feeds op's mount at dest, or "".
func mountInput(op *pb.Op, dest string) digest.Digest {
	for _, m := range op.GetExec().GetMounts() {
		if m.Dest == dest && m.Input >= 0 {
			return digest.Digest(op.Inputs[m.Input].Digest)
		}
	}
	return ""
}

// kindOf says what an op is from what it does, not from its name or mark.
func kindOf(op *pb.Op) Kind {
	switch {
	case strings.HasPrefix(op.GetSource().GetIdentifier(), "local://"):
		return KindOwnTool
	case op.GetSource() != nil:
		return KindImage
	case op.GetFile() != nil:
		switch a := op.GetFile().Actions[0]; {
		case a.GetMkfile() != nil:
			return KindToolSource
		case a.GetMkdir().GetPath() == toolchainMark:
			return KindToolchain
		case a.GetCopy().GetDest() == "/.llbgen-verdict", a.GetCopy().GetSrc() == "/docker-credential-ecr-login":
			return KindDeliver
		case a.GetCopy().GetDest() == VerdictFile:
			return KindVerdict
		case a.GetRm().GetPath() == HelperPath:
			return KindImageOut
		}
		return KindExport
	}
	ex := op.GetExec()
	args := ex.GetMeta().GetArgs()
	switch {
	case args[0] == "/bin/sh":
		return KindSetup
	case args[0] == goBin && slices.Contains(args, "download"):
		return KindDownload
	case args[0] == goBin && slices.Contains(args, toolBin):
		return KindStageTool
	}
	switch args[1] {
	case "modsum":
		return KindModuleCheck
	case "gobuild":
		if !slices.Contains(ex.Meta.Env, "CGO_ENABLED=1") {
			return KindStatic
		}
		return KindCompile
	case "finish":
		return KindFinish
	case "check":
		return KindVerify
	case "sums":
		return KindExport
	case "cell":
		return KindCell
	}
	return ""
}

// Every op of the graph, matrix cells too, carries a Stage: the kind it
// is, the binaries it serves (all of them where ops of several binaries
// are one vertex) and the platform it is for. Who is served is found from
// the graph's edges, from each binary's compile and deliver state.
func TestEveryOpHasAStage(t *testing.T) {
	l := stageList(t)
	g := mustBuild(t, l, stageOptions())
	states := []llb.State{g.Output}
	type cell struct {
		bins []string // binaries of one compile are one cell
		col  Column
	}
	cells := map[digest.Digest]cell{}
	for _, bin := range l.Binaries() {
		for _, col := range g.Columns() {
			c, err := g.Cell(bin.Name, col)
			if err != nil {
				t.Fatal(err)
			}
			states = append(states, c)
			d := head(t, c)
			cells[d] = cell{append(cells[d].bins, bin.Name), col}
		}
	}
	verdicts := map[string]llb.State{}
	for _, bin := range l.Binaries() {
		if v, ok := g.Verdict(bin.Name); ok {
			verdicts[bin.Name] = v
			states = append(states, v)
		}
	}
	jobs := map[string]llb.State{}
	for _, bin := range l.Binaries() {
		st, err := g.JobImage(bin, JobLayer{Home: "/root", CredHelpers: []string{"example.com"}})
		if err != nil {
			t.Fatal(err)
		}
		jobs[bin.Name] = st
		states = append(states, st)
	}
	m := marshalAll(t, states...)
	stages := Stages(m.def)

	// Who each vertex serves, by the graph's edges.
	want := map[digest.Digest][]string{}
	platformOf := map[string]string{}
	imageOf := map[string]string{}
	serves := func(d digest.Digest, bin string) {
		if d != "" && !slices.Contains(want[d], bin) {
			want[d] = append(want[d], bin)
		}
	}
	for _, bin := range l.Binaries() {
		p := g.b.platformOf(bin)
		platformOf[bin.Name] = platforms.Format(p)
		imageOf[bin.Name] = bin.Target.Image.Ref
		compile := head(t, g.Compiled[bin.Name])
		serves(compile, bin.Name)
		for root := mountInput(m.ops[compile], "/"); kindOf(m.ops[root]) == KindSetup; root = mountInput(m.ops[root], "/") {
			serves(root, bin.Name)
		}
		deliver := head(t, g.Delivered[bin.Name])
		serves(deliver, bin.Name)
		serves(head(t, jobs[bin.Name]), bin.Name)
		if v, ok := verdicts[bin.Name]; ok {
			serves(head(t, v), bin.Name)
		}
		for _, in := range m.ops[deliver].Inputs {
			if k := kindOf(m.ops[digest.Digest(in.Digest)]); k == KindVerify || k == KindFinish {
				serves(digest.Digest(in.Digest), bin.Name)
			}
		}
	}
	for d, c := range cells {
		for _, bin := range c.bins {
			serves(d, bin)
		}
	}

	seen := map[Kind]int{}
	for d, op := range m.ops {
		s, ok := stages[d]
		if !ok {
			t.Errorf("an op is not marked: %s %v", m.def.Metadata[string(d)].GetDescription()["llb.customname"], op)
			continue
		}
		seen[s.Kind]++
		if k := kindOf(op); s.Kind != k {
			t.Errorf("%s: marked %q, does %q", d, s.Kind, k)
		}
		bins := slices.Sorted(slices.Values(want[d]))
		if !slices.Equal(s.Binaries, bins) {
			t.Errorf("%s (%s): serves %q, want %q", d, s.Kind, s.Binaries, bins)
		}
		switch {
		case s.Kind == KindImage:
			if s.Platform != platforms.Format(platformOfOp(op)) || !sameImage(s.Image, op.GetSource().Identifier) || s.Binaries != nil {
				t.Errorf("image %s marked %+v", op.GetSource().Identifier, s)
			}
		case s.Kind == KindCell:
			if c := cells[d]; s.Platform != platforms.Format(c.col.Platform) || s.Image != c.col.Image.Ref {
				t.Errorf("cell of %q in %s (%s) marked %+v", c.bins, c.col.Image.Ref, platforms.Format(c.col.Platform), s)
			}
		case len(bins) > 0:
			if s.Platform != platformOf[bins[0]] {
				t.Errorf("%s of %q: platform %q, want %q", s.Kind, bins, s.Platform, platformOf[bins[0]])
			}
			wantImage := imageOf[bins[0]]
			if s.Kind == KindStatic || s.Kind == KindFinish {
				wantImage = l.Go.Ref
			}
			if s.Image != wantImage {
				t.Errorf("%s of %q: image %q, want %q", s.Kind, bins, s.Image, wantImage)
			}
		case s.Kind == KindStageTool:
			if s.Platform != "linux/amd64" || s.Image != l.Go.Ref {
				t.Errorf("stage tool marked %+v", s)
			}
		case s.Kind == KindToolchain:
			// A file op has no platform: its image's.
			img := m.ops[digest.Digest(op.Inputs[0].Digest)]
			if s.Platform != platforms.Format(platformOfOp(img)) || s.Image != l.Go.Ref {
				t.Errorf("toolchain of %s marked %+v", img.GetSource().GetIdentifier(), s)
			}
		default:
			if !s.Kind.Shared() || s.Platform != "" || s.Image != "" {
				t.Errorf("%s marked %+v", s.Kind, s)
			}
		}
		if s.Kind == KindSetup {
			args := op.GetExec().Meta.Args
			if s.Command != args[2] || s.Steps == 0 || s.Step < 1 || s.Step > s.Steps {
				t.Errorf("setup %q marked %+v", args, s)
			}
		}
	}
	for k := range kindInfo {
		if seen[k] == 0 && k != KindOwnTool { // TestOwnTool
			t.Errorf("no %q vertex in the test graph", k)
		}
	}
}

func platformOfOp(op *pb.Op) ocispecs.Platform {
	return ocispecs.Platform{OS: op.Platform.OS, Architecture: op.Platform.Architecture, Variant: op.Platform.Variant}
}

// sameImage reports whether ref as written names the image of identifier.
func sameImage(ref, identifier string) bool {
	return strings.HasSuffix(identifier, "/"+ref)
}

// Every static binary of one platform is one compile: it serves all.
func TestStaticCompileServesEveryStaticBinaryOfItsPlatform(t *testing.T) {
	l := stageList(t)
	g := mustBuild(t, l, stageOptions())
	m := marshalAll(t, g.Output)
	static := head(t, g.Compiled["a"])
	for _, other := range []string{"b", "multi-linux-amd64"} {
		if head(t, g.Compiled[other]) != static {
			t.Errorf("%s is compiled apart from a", other)
		}
	}
	got := Stages(m.def)[static]
	if want := []string{"a", "b", "multi-linux-amd64"}; got.Kind != KindStatic || !slices.Equal(got.Binaries, want) || got.Platform != "linux/amd64" {
		t.Errorf("static compile for linux/amd64 marked %+v, want binaries %q", got, want)
	}
}

// A stage is kept whole through a marshalled definition; an op that
// serves no binary serves every one.
func TestStagesRoundTrip(t *testing.T) {
	want := Stage{Kind: KindSetup, Binaries: []string{"a", "b"}, Platform: "linux/arm64", Image: "alpine:3.12", Command: "apk add gcc", Step: 1, Steps: 2}
	st := llb.Image("alpine:3.12").Run(llb.Args([]string{"/bin/sh", "-c", "apk add gcc"}), want.with()).Root()
	m := marshalAll(t, st)
	got := Stages(m.def)[head(t, st)]
	if !slices.Equal(got.Binaries, want.Binaries) || got.Kind != want.Kind || got.Command != want.Command || got.Step != 1 || got.Steps != 2 || got.Image != want.Image || got.Platform != want.Platform {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if !got.Serves("a") || got.Serves("c") || !(Stage{Kind: KindDownload}).Serves("c") {
		t.Error("Serves")
	}
}
