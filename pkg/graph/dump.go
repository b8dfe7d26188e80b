package graph

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// dumpDataMax is the longest file content Dump shows; longer content (the
// stage tool's source) is only counted as present, so editing the stage
// tool does not change every dump.
const dumpDataMax = 200

// Dump renders a marshalled definition as text for review (the golden
// files of the repository's lists): one block per vertex, inputs before
// the vertices that use them, otherwise in stage order (kind, then display
// name); vertices are named by number and display name, never by digest,
// so a change to the graph reads as a change to the text. Each block shows
// the vertex's Stage, its place in the list, its platform, and what it
// does: an image's reference; an exec's arguments, environment, user,
// directory, network, security and mounts (input, selector, read-only,
// output, cache id and sharing, tmpfs, secrets); a file op's actions.
func Dump(def *pb.Definition) ([]byte, error) {
	d, err := newDumper(def)
	if err != nil {
		return nil, err
	}
	return d.dump(), nil
}

// kindOrder is the order vertices are shown in when the edges allow.
var kindOrder = []Kind{KindImage, KindToolchain, KindToolSource, KindStageTool, KindOwnTool, KindDownload, KindModuleCheck,
	KindStatic, KindSetup, KindCompile, KindFinish, KindVerify, KindDeliver, KindExport, KindCell}

type dumper struct {
	def    *pb.Definition
	ops    map[digest.Digest]*pb.Op
	stages map[digest.Digest]Stage
	order  []digest.Digest       // vertices as shown
	num    map[digest.Digest]int // their numbers, from 1
	output *pb.Op                // the definition's last entry: the result, no op
	buf    bytes.Buffer
}

func newDumper(def *pb.Definition) (*dumper, error) {
	d := &dumper{def: def, ops: map[digest.Digest]*pb.Op{}, stages: Stages(def), num: map[digest.Digest]int{}}
	if len(def.GetDef()) == 0 {
		return nil, fmt.Errorf("dumping the graph: the definition is empty")
	}
	for i, dt := range def.Def {
		var op pb.Op
		if err := op.UnmarshalVT(dt); err != nil {
			return nil, fmt.Errorf("dumping the graph: op %d: %w", i, err)
		}
		if i == len(def.Def)-1 && op.Op == nil {
			d.output = &op
			continue
		}
		d.ops[digest.FromBytes(dt)] = &op
	}
	if err := d.sort(); err != nil {
		return nil, err
	}
	return d, nil
}

// sort orders the vertices: each after its inputs, and among those ready,
// by kind, then display name (then digest, for two of one name).
func (d *dumper) sort() error {
	rank := func(dg digest.Digest) int {
		if s, ok := d.stages[dg]; ok {
			if i := slices.Index(kindOrder, s.Kind); i >= 0 {
				return i
			}
		}
		return len(kindOrder)
	}
	less := func(a, b digest.Digest) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(d.name(a), d.name(b)), cmp.Compare(a, b))
	}
	waiting := map[digest.Digest]int{}
	users := map[digest.Digest][]digest.Digest{}
	var ready []digest.Digest
	for dg, op := range d.ops {
		seen := map[digest.Digest]bool{}
		for _, in := range op.Inputs {
			in := digest.Digest(in.Digest)
			if _, ok := d.ops[in]; !ok {
				return fmt.Errorf("dumping the graph: %s has an input that is not in the definition", d.name(dg))
			}
			if !seen[in] {
				seen[in] = true
				waiting[dg]++
				users[in] = append(users[in], dg)
			}
		}
		if waiting[dg] == 0 {
			ready = append(ready, dg)
		}
	}
	for len(ready) > 0 {
		next := slices.MinFunc(ready, less)
		ready = slices.DeleteFunc(ready, func(x digest.Digest) bool { return x == next })
		d.order = append(d.order, next)
		d.num[next] = len(d.order)
		for _, u := range users[next] {
			if waiting[u]--; waiting[u] == 0 {
				ready = append(ready, u)
			}
		}
	}
	if len(d.order) != len(d.ops) {
		return fmt.Errorf("dumping the graph: the definition has a cycle")
	}
	return nil
}

// name is a vertex's display name.
func (d *dumper) name(dg digest.Digest) string {
	return d.def.Metadata[string(dg)].GetDescription()["llb.customname"]
}

// ref names a vertex's output by number and display name: "[3] image
// golang:1.26", "[5]:1 ..." for an output other than the first.
func (d *dumper) ref(in *pb.Input) string {
	dg := digest.Digest(in.Digest)
	s := fmt.Sprintf("[%d]", d.num[dg])
	if in.Index != 0 {
		s += fmt.Sprintf(":%d", in.Index)
	}
	return s + " " + strconv.Quote(d.name(dg))
}

func (d *dumper) line(indent int, format string, args ...any) {
	d.buf.WriteString(strings.Repeat("  ", indent))
	fmt.Fprintf(&d.buf, format, args...)
	d.buf.WriteByte('\n')
}

func (d *dumper) dump() []byte {
	for i, dg := range d.order {
		if i > 0 {
			d.buf.WriteByte('\n')
		}
		d.vertex(dg, d.ops[dg])
	}
	if d.output != nil && len(d.output.Inputs) > 0 {
		d.buf.WriteByte('\n')
		d.line(0, "output: %s", d.ref(d.output.Inputs[0]))
	}
	return d.buf.Bytes()
}

func (d *dumper) vertex(dg digest.Digest, op *pb.Op) {
	d.line(0, "[%d] %s", d.num[dg], quote(d.name(dg)))
	if s, ok := d.stages[dg]; ok {
		d.line(1, "stage: %s", stageText(s))
	} else {
		d.line(1, "stage: (none)")
	}
	for _, at := range d.locations(dg) {
		d.line(1, "at: %s", at)
	}
	if p := op.Platform; p != nil {
		d.line(1, "platform: %s", platformText(p))
	}
	if f := op.GetConstraints().GetFilter(); len(f) > 0 {
		d.line(1, "constraints: %s", strings.Join(f, " "))
	}
	md := d.def.Metadata[string(dg)]
	if md.GetIgnoreCache() {
		d.line(1, "ignore cache: true")
	}
	var keys []string
	for k := range md.GetDescription() {
		if k != "llb.customname" && !strings.HasPrefix(k, stageKey) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		d.line(1, "description: %s=%s", quote(k), quote(md.Description[k]))
	}
	for _, m := range []proto.Message{md.GetExportCache(), md.GetProgressGroup(), md.GetLinuxResources()} {
		if t := fields(m); t != "" {
			d.line(1, "%s: %s", m.ProtoReflect().Descriptor().Name(), t)
		}
	}
	switch {
	case op.GetSource() != nil:
		d.source(op.GetSource())
	case op.GetExec() != nil:
		d.exec(op, op.GetExec())
	case op.GetFile() != nil:
		d.file(op, op.GetFile())
	default:
		d.line(1, "op: %s", fields(op))
	}
}

// locations are where the source map places a vertex: FILE:FIRST-LAST.
func (d *dumper) locations(dg digest.Digest) []string {
	src := d.def.GetSource()
	var out []string
	for _, loc := range src.GetLocations()[string(dg)].GetLocations() {
		file := "?"
		if i := int(loc.SourceIndex); i >= 0 && i < len(src.GetInfos()) {
			file = src.Infos[i].Filename
		}
		for _, r := range loc.Ranges {
			at := fmt.Sprintf("%s:%d", file, r.GetStart().GetLine())
			if end := r.GetEnd().GetLine(); end != r.GetStart().GetLine() {
				at += fmt.Sprintf("-%d", end)
			}
			out = append(out, at)
		}
	}
	return out
}

func stageText(s Stage) string {
	parts := []string{string(s.Kind)}
	if len(s.Binaries) > 0 {
		parts = append(parts, "binaries="+strings.Join(s.Binaries, ","))
	}
	if s.Platform != "" {
		parts = append(parts, "platform="+s.Platform)
	}
	if s.Image != "" {
		parts = append(parts, "image="+s.Image)
	}
	if s.Steps > 0 {
		parts = append(parts, fmt.Sprintf("step=%d/%d", s.Step, s.Steps))
	}
	if s.Command != "" {
		parts = append(parts, "command="+strconv.Quote(s.Command))
	}
	return strings.Join(parts, " ")
}

func platformText(p *pb.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	if p.OSVersion != "" {
		s += " osversion=" + p.OSVersion
	}
	if len(p.OSFeatures) > 0 {
		s += " osfeatures=" + strings.Join(p.OSFeatures, ",")
	}
	return s
}

func (d *dumper) source(src *pb.SourceOp) {
	d.line(1, "source: %s", quote(src.Identifier))
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range src.Attrs {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		d.line(2, "attr: %s=%s", quote(k), quote(src.Attrs[k]))
	}
}

func (d *dumper) exec(op *pb.Op, ex *pb.ExecOp) {
	meta := ex.GetMeta()
	d.line(1, "exec:")
	for _, a := range meta.GetArgs() {
		d.line(2, "arg: %s", quote(a))
	}
	for _, e := range meta.GetEnv() {
		d.line(2, "env: %s", quote(e))
	}
	d.line(2, "user: %s", quote(meta.GetUser()))
	d.line(2, "cwd: %s", quote(meta.GetCwd()))
	d.line(2, "network: %s", strings.ToLower(ex.Network.String()))
	d.line(2, "security: %s", strings.ToLower(ex.Security.String()))
	if t := fields(meta, "args", "env", "user", "cwd"); t != "" {
		d.line(2, "meta: %s", t)
	}
	for _, se := range ex.GetSecretenv() {
		d.line(2, "secret env: %s", fields(se))
	}
	if t := fields(ex, "meta", "mounts", "network", "security", "secretenv"); t != "" {
		d.line(2, "%s", t)
	}
	for _, m := range ex.GetMounts() {
		d.mount(op, m)
	}
}

func (d *dumper) mount(op *pb.Op, m *pb.Mount) {
	var parts []string
	switch {
	case m.Input >= 0 && int(m.Input) < len(op.Inputs):
		parts = append(parts, "<- "+d.ref(op.Inputs[m.Input]))
	case m.MountType == pb.MountType_BIND:
		parts = append(parts, "<- scratch")
	}
	if m.MountType != pb.MountType_BIND {
		parts = append(parts, strings.ToLower(m.MountType.String()))
	}
	if m.Selector != "" {
		parts = append(parts, "selector="+quote(m.Selector))
	}
	if m.Readonly {
		parts = append(parts, "readonly")
	}
	if m.Output >= 0 {
		parts = append(parts, fmt.Sprintf("output=%d", m.Output))
	}
	if c := m.GetCacheOpt(); c != nil {
		parts = append(parts, "id="+quote(c.ID), "sharing="+strings.ToLower(c.Sharing.String()))
	}
	if t := fields(m.GetTmpfsOpt()); t != "" {
		parts = append(parts, t)
	}
	if t := fields(m, "dest", "input", "selector", "readonly", "output", "mountType", "cacheOpt", "TmpfsOpt"); t != "" {
		parts = append(parts, t)
	}
	d.line(2, "mount: %s %s", quote(m.Dest), strings.Join(parts, " "))
}

func (d *dumper) file(op *pb.Op, f *pb.FileOp) {
	d.line(1, "file:")
	in := func(i int64) string {
		switch {
		case i < 0:
			return "scratch"
		case int(i) < len(op.Inputs):
			return d.ref(op.Inputs[i])
		}
		return fmt.Sprintf("action %d", int(i)-len(op.Inputs))
	}
	for i, a := range f.Actions {
		var what string
		var detail proto.Message
		switch {
		case a.GetCopy() != nil:
			what, detail = "copy from "+in(a.SecondaryInput), a.GetCopy()
		case a.GetMkfile() != nil:
			what, detail = "mkfile", a.GetMkfile()
		case a.GetMkdir() != nil:
			what, detail = "mkdir", a.GetMkdir()
		case a.GetRm() != nil:
			what, detail = "rm", a.GetRm()
		case a.GetSymlink() != nil:
			what, detail = "symlink", a.GetSymlink()
		default:
			what, detail = "action", a
		}
		out := ""
		if a.Output >= 0 {
			out = fmt.Sprintf(" output=%d", a.Output)
		}
		d.line(2, "action %d: on %s%s: %s %s", i, in(a.Input), out, what, fields(detail))
	}
}

// fields renders a message's set fields, in declaration order, as
// name=value, leaving out skip: a stable text, unlike prototext's.
func fields(m proto.Message, skip ...string) string {
	if m == nil || !m.ProtoReflect().IsValid() {
		return ""
	}
	r := m.ProtoReflect()
	fds := r.Descriptor().Fields()
	var parts []string
	for i := range fds.Len() {
		fd := fds.Get(i)
		if slices.Contains(skip, string(fd.Name())) || !r.Has(fd) {
			continue
		}
		parts = append(parts, string(fd.Name())+"="+value(fd, r.Get(fd)))
	}
	return strings.Join(parts, " ")
}

func value(fd protoreflect.FieldDescriptor, v protoreflect.Value) string {
	switch {
	case fd.IsList():
		l := v.List()
		var parts []string
		for i := range l.Len() {
			parts = append(parts, scalar(fd, l.Get(i)))
		}
		return "[" + strings.Join(parts, " ") + "]"
	case fd.IsMap():
		var parts []string
		v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
			parts = append(parts, quote(k.String())+":"+scalar(fd.MapValue(), mv))
			return true
		})
		slices.Sort(parts)
		return "{" + strings.Join(parts, " ") + "}"
	}
	return scalar(fd, v)
}

func scalar(fd protoreflect.FieldDescriptor, v protoreflect.Value) string {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return "{" + fields(v.Message().Interface()) + "}"
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return strings.ToLower(string(ev.Name()))
		}
		return fmt.Sprint(v.Enum())
	case protoreflect.StringKind:
		return quote(v.String())
	case protoreflect.BytesKind:
		b := v.Bytes()
		if len(b) <= dumpDataMax && utf8.Valid(b) {
			return strconv.Quote(string(b))
		}
		return "(data not shown)"
	}
	if fd.Name() == "mode" && (fd.Kind() == protoreflect.Int32Kind || fd.Kind() == protoreflect.Int64Kind) && v.Int() >= 0 {
		return fmt.Sprintf("0%o", v.Int())
	}
	return v.String()
}

// quote is s as it is when that reads as one word of plain text, else
// quoted.
func quote(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if r == '"' || r == '\\' || !strconv.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
