package daemon

import (
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/solver/errdefs"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
	fstypes "github.com/tonistiigi/fsutil/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/graph/stagetool"
)

// fakeDaemon stands in for BuildKit behind the gateway: it resolves every
// image, and solves a definition by the stages of its vertices. A stage a
// test makes fail fails as on a daemon: the progress stream (the
// collector) gets the vertex's error and log, and the solve returns a
// VertexError naming it. Within one session, it answers as BuildKit
// v0.34.2's gateway does when a failed exec mounts a snapshot that an
// earlier failed exec of the session mounted: "releasing already released
// reference", without the vertex (see sessions in run.go). What solves
// serves files read from it: /usr/local/go/bin/go of an image is an ELF
// header for its platform, a matrix cell's verdict says the binary ran,
// any other file's bytes are its name's and the solved vertex's.
type fakeDaemon struct {
	col *collector
	// fail are the stages that fail, first match first.
	fail []fakeFailure
	// lost, when set, loses the connection in a solve whose stages it
	// matches.
	lost func(graph.Stage) bool
	// endFails, when set, fails a session once its build function
	// returned, when a definition it solved has a head that matches.
	endFails func(graph.Stage) bool
	// noVerdict, when set, leaves the verdict out of the checks whose
	// stage it matches.
	noVerdict func(graph.Stage) bool
	// otherVerdict, when set, makes the checks whose stage it matches
	// name other bytes than the binary they ran.
	otherVerdict func(graph.Stage) bool
	// hold keeps each session open this long, so sessions overlap.
	hold time.Duration
	// runTime is how long a failing vertex runs before it fails.
	runTime time.Duration

	// cacheFails, when set, fails the cache export with it;
	// atCacheExport, when set, is called as it exports.
	cacheFails    error
	atCacheExport func()

	mu   sync.Mutex
	open int // sessions open now
	// cached are the refs the cache export was given, by binary name, and
	// cacheExports where it went.
	cached       []string
	cacheExports []client.CacheOptionsEntry
	maxOpen      int // the most sessions open at once
	sessions     int // sessions opened in all
	// runs counts, by vertex, how often a failing vertex ran; execs is
	// its last run, shared while a session holds it.
	runs     map[digest.Digest]int
	execs    map[digest.Digest]*fakeExec
	returned []error      // the errors build functions returned
	solved   []graph.Kind // the kind of the head of each definition solved
	// reads counts the reads of each file, by the vertex it was read from.
	reads    map[string]int
	reported map[digest.Digest]bool
}

// fakeFailure is a stage that fails, and what it says.
type fakeFailure struct {
	match     func(graph.Stage) bool
	vertexErr string
	log       string
}

// exportSession: the fake daemon has no exporters; runs that publish
// images are tested on the test bed.
func (d *fakeDaemon) exportSession(ctx context.Context, fn gateway.BuildFunc, _ []client.ExportEntry) (map[string]string, error) {
	return nil, d.session(ctx, fn, sessionOpt{})
}

// cacheSession runs fn as a session and records the names of its
// result's refs (what a cache exporter would export), or fails with
// cacheFails.
func (d *fakeDaemon) cacheSession(ctx context.Context, fn gateway.BuildFunc, exports []client.CacheOptionsEntry) error {
	return d.session(ctx, func(ctx context.Context, gc gateway.Client) (*gateway.Result, error) {
		res, err := fn(ctx, gc)
		if err != nil {
			return nil, err
		}
		if d.cacheFails != nil {
			return nil, d.cacheFails
		}
		if d.atCacheExport != nil {
			d.atCacheExport()
		}
		d.mu.Lock()
		d.cacheExports = exports
		d.cached = slices.Sorted(maps.Keys(res.Refs))
		d.mu.Unlock()
		return res, nil
	}, sessionOpt{})
}

// session runs fn as a gateway session of its own would: sessions.
func (d *fakeDaemon) session(ctx context.Context, fn gateway.BuildFunc, so sessionOpt) error {
	d.mu.Lock()
	d.open++
	d.sessions++
	d.maxOpen = max(d.maxOpen, d.open)
	d.mu.Unlock()
	fs := &fakeSession{d: d, registered: map[digest.Digest]digest.Digest{}}
	defer func() {
		d.mu.Lock()
		d.open--
		for _, e := range fs.held {
			e.holders--
		}
		d.mu.Unlock()
	}()
	time.Sleep(d.hold)
	_, err := fn(ctx, recorder{Client: fs, col: d.col})
	if err != nil {
		d.mu.Lock()
		d.returned = append(d.returned, err)
		d.mu.Unlock()
		return fmt.Errorf("failed to run Build function: %s", err) // BuildKit keeps the text
	}
	if d.endFails != nil && slices.ContainsFunc(fs.heads, d.endFails) {
		return errors.New("the session ended in error")
	}
	if so.attestDir != "" {
		// BuildKit's local exporter writes the result's provenance.
		return os.WriteFile(filepath.Join(so.attestDir, "provenance.json"), []byte("{}\n"), 0o644)
	}
	return nil
}

// fakeSession is the gateway client of one session.
type fakeSession struct {
	gateway.Client // not implemented: the solve code must not call the rest
	d              *fakeDaemon

	mu sync.Mutex
	// registered maps the inputs of the execs that failed in the session
	// to the exec: BuildKit's gateway keeps them under their ids.
	registered map[digest.Digest]digest.Digest
	heads      []graph.Stage // the stage of the head of each definition solved
	held       []*fakeExec   // the failed vertices its solves used
}

// fakeExec is one run of a failing vertex. As BuildKit's solver does
// (solver/jobs.go: sharedOp keeps its execErr while a job uses the
// vertex; deleteIfUnreferenced drops it with the last), solves of every
// session share it while a session that used it is open, and wait for it
// to fail; once none is, the vertex runs again (a failed result is not
// cached). Each session is a job of its own.
type fakeExec struct {
	holders int
	done    chan struct{}
}

// run runs failing vertex dg in session s, or joins its run that a
// session still holds, and waits for it to fail.
func (s *fakeSession) run(dg digest.Digest) {
	d := s.d
	d.mu.Lock()
	if d.execs == nil {
		d.execs, d.runs = map[digest.Digest]*fakeExec{}, map[digest.Digest]int{}
	}
	e := d.execs[dg]
	if e == nil || e.holders == 0 {
		e = &fakeExec{done: make(chan struct{})}
		d.execs[dg] = e
		d.runs[dg]++
		time.AfterFunc(d.runTime, func() { close(e.done) })
	}
	e.holders++
	s.held = append(s.held, e)
	d.mu.Unlock()
	<-e.done
}

func (s *fakeSession) ResolveImageConfig(_ context.Context, ref string, opt sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	p := platforms.Format(*opt.ImageOpt.Platform)
	sum := sha256.Sum256([]byte(ref + " " + p))
	return ref, digest.NewDigestFromBytes(digest.SHA256, sum[:]), []byte(fmt.Sprintf(`{"os":"linux","architecture":%q}`, opt.ImageOpt.Platform.Architecture)), nil
}

func (s *fakeSession) ResolveSourceMetadata(context.Context, *pb.SourceOp, sourceresolver.Opt) (*sourceresolver.MetaResponse, error) {
	return nil, errors.New("the fake daemon resolves images only")
}

func (s *fakeSession) BuildOpts() gateway.BuildOpts { return gateway.BuildOpts{} }

func (s *fakeSession) Solve(ctx context.Context, req gateway.SolveRequest) (*gateway.Result, error) {
	def := req.Definition
	stages := graph.Stages(def)
	ops := map[digest.Digest]*pb.Op{}
	for _, dt := range def.Def {
		var op pb.Op
		if err := op.Unmarshal(dt); err != nil {
			return nil, err
		}
		ops[digest.FromBytes(dt)] = &op
	}
	head := headOf(def)
	s.d.mu.Lock()
	s.d.solved = append(s.d.solved, stages[head].Kind)
	s.d.mu.Unlock()
	s.mu.Lock()
	s.heads = append(s.heads, stages[head])
	s.mu.Unlock()
	ds := make([]digest.Digest, 0, len(stages))
	for d := range stages {
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	for _, d := range ds {
		if s.d.lost != nil && s.d.lost(stages[d]) {
			return nil, status.Error(codes.Unavailable, "connection error: desc = \"transport is closing\"")
		}
	}
	for _, f := range s.d.fail {
		for _, d := range ds {
			if f.match(stages[d]) {
				s.run(d)
				s.d.report(d, f)
				return nil, s.failed(d, ops[d], f.vertexErr)
			}
		}
	}
	res := gateway.NewResult()
	ref := &fakeRef{head: head, of: contentOf(ops, head), platform: platformOf(ops[head]), d: s.d, stage: stages[head]}
	check := head
	if cp := ops[head].GetFile().GetActions(); len(cp) == 1 && cp[0].GetCopy().GetSrc() == graph.VerdictFile {
		// a check's verdict alone (graph.Verdict): the check's
		check = digest.Digest(ops[head].Inputs[0].Digest)
		ref.of = contentOf(ops, check)
	}
	if e := ops[check].GetExec(); e != nil {
		for i, a := range e.Meta.Args {
			if a == "-in" && i+1 < len(e.Meta.Args) {
				ref.ran = path.Base(e.Meta.Args[i+1])
			}
		}
	}
	res.SetRef(ref)
	return res, nil
}

// report sends a vertex's failure to the progress stream, once: the
// display shows a vertex's log from one session only.
func (d *fakeDaemon) report(dg digest.Digest, f fakeFailure) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.reported == nil {
		d.reported = map[digest.Digest]bool{}
	}
	if !d.reported[dg] {
		d.reported[dg] = true
		d.col.add(failedStatus(dg, f.vertexErr, f.log))
	}
}

// failed is the error of a solve whose vertex d failed.
func (s *fakeSession) failed(d digest.Digest, op *pb.Op, vertexErr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var lost bool
	for _, in := range op.Inputs {
		in := digest.Digest(in.Digest)
		if other, ok := s.registered[in]; ok && other != d && op.GetExec() != nil {
			lost = true
		}
		s.registered[in] = d
	}
	if lost {
		return errors.New("releasing already released reference zxney6b4ltlr0cwa5zsf0ueip::z8huku3gcqr1l4m3o0h1ooxjf")
	}
	return errdefs.WrapVertex(errors.New(vertexErr), d)
}

// headOf is the vertex a definition solves: the input of its last op.
func headOf(def *pb.Definition) digest.Digest {
	var op pb.Op
	if len(def.Def) == 0 {
		return "" // llb.Scratch()
	}
	if err := op.Unmarshal(def.Def[len(def.Def)-1]); err != nil || len(op.Inputs) == 0 {
		return ""
	}
	return digest.Digest(op.Inputs[0].Digest)
}

func platformOf(op *pb.Op) string {
	if op == nil || op.Platform == nil {
		return ""
	}
	return op.Platform.Architecture
}

// contentOf is the vertex whose files a solved vertex, head, holds: the
// binary a stage mounts at /llbgen/in (a check runs it, a finish copies
// it), else head's own.
func contentOf(ops map[digest.Digest]*pb.Op, head digest.Digest) digest.Digest {
	op := ops[head]
	for _, m := range op.GetExec().GetMounts() {
		if m.Dest == "/llbgen/in" && int(m.Input) < len(op.Inputs) {
			return digest.Digest(op.Inputs[m.Input].Digest)
		}
	}
	return head
}

// fakeContent is what the fake daemon's file path holds in a vertex whose
// files are of vertex of (contentOf).
func fakeContent(path string, of digest.Digest) []byte {
	return []byte(fmt.Sprintf("%s of %s\n", path, of))
}

// fakeRef serves the files of a solved vertex.
type fakeRef struct {
	head     digest.Digest
	of       digest.Digest // whose files it holds (contentOf)
	ran      string        // a check's: the name of the binary it ran
	platform string        // the architecture the head op runs on
	d        *fakeDaemon
	stage    graph.Stage // the head's
}

// content is what the fake daemon's file name holds.
func (r *fakeRef) content(name string) []byte {
	switch name {
	case "/usr/local/go/bin/go":
		return elfHeader(r.platform)
	case graph.CellFile:
		return []byte(`{"ok":true,"output":"docker-credential-ecr-login 0.12.0"}`)
	case graph.VerdictFile:
		if r.ran != "" {
			return []byte(stagetool.Verdict(fmt.Sprintf("%x", sha256.Sum256(fakeContent("/"+r.ran, r.of)))))
		}
	}
	return fakeContent(name, r.of)
}

func (r *fakeRef) ToState() (llb.State, error)        { return llb.Scratch(), nil }
func (r *fakeRef) Evaluate(ctx context.Context) error { return nil }

func (r *fakeRef) ReadFile(_ context.Context, req gateway.ReadRequest) ([]byte, error) {
	r.d.mu.Lock()
	if r.d.reads == nil {
		r.d.reads = map[string]int{}
	}
	r.d.reads[req.Filename+" of "+string(r.head)]++
	r.d.mu.Unlock()
	if req.Filename == graph.VerdictFile && r.d.noVerdict != nil && r.d.noVerdict(r.stage) {
		return nil, status.Error(codes.Unknown, "open /verdict: no such file or directory")
	}
	if req.Filename == graph.VerdictFile && r.d.otherVerdict != nil && r.d.otherVerdict(r.stage) {
		return []byte(stagetool.Verdict(strings.Repeat("0", 64))), nil
	}
	data := r.content(req.Filename)
	if req.Range != nil {
		data = data[min(req.Range.Offset, len(data)):min(req.Range.Offset+req.Range.Length, len(data))]
	}
	return data, nil
}

func (r *fakeRef) StatFile(_ context.Context, req gateway.StatRequest) (*fstypes.Stat, error) {

	return &fstypes.Stat{Path: req.Path, Mode: 0o755, Size: int64(len(r.content(req.Path))), ModTime: 1e18}, nil
}

func (r *fakeRef) ReadDir(context.Context, gateway.ReadDirRequest) ([]*fstypes.Stat, error) {
	return nil, errors.New("the fake daemon reads files only")
}

// elfHeader is the start of a 64-bit little-endian ELF executable for
// arch (amd64 or arm64).
func elfHeader(arch string) []byte {
	h := make([]byte, 64)
	copy(h, elf.ELFMAG)
	h[elf.EI_CLASS], h[elf.EI_DATA], h[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	m := elf.EM_X86_64
	if arch == "arm64" {
		m = elf.EM_AARCH64
	}
	binary.LittleEndian.PutUint16(h[16:], uint16(elf.ET_EXEC))
	binary.LittleEndian.PutUint16(h[18:], uint16(m))
	return h
}

// kind matches the stages of kind k, serving binary name when given.
func kind(k graph.Kind, name ...string) func(graph.Stage) bool {
	return func(s graph.Stage) bool {
		return s.Kind == k && (len(name) == 0 || slices.Contains(s.Binaries, name[0]))
	}
}
