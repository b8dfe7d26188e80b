package daemon

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/moby/buildkit/client/llb"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/solver/pb"
	"github.com/moby/buildkit/util/grpcerrors"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	fstypes "github.com/tonistiigi/fsutil/types"
	"google.golang.org/grpc/codes"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/graph/stagetool"
	"github.com/llbgen/llbgen/pkg/outdir"
	"github.com/llbgen/llbgen/pkg/plan"
	"github.com/llbgen/llbgen/pkg/targets"
)

// solve is the state of one run.
type solve struct {
	list    *targets.List
	out     *outdir.Dir
	opt     Options
	worker  worker
	col     *collector
	results []Result // one per binary, in list order
	errs    []error  // each binary's solve error
	// parallel is how many binary sessions run at once: maxSessions.
	parallel int
	// attested: a provenance attestation of the binaries written was
	// asked for (none is when nothing was written).
	attested bool
	llbMu    sync.Mutex // see definition
	// failedAt is, by vertex, the error of the first solve that failed
	// there (noteFailure).
	failMu   sync.Mutex
	failedAt map[digest.Digest]error
	// prepared is the graph run built, for the images made after the
	// output directory was committed (publishImages).
	prepared *prepared
	// cacheExport is why the build cache was not exported (exportCache).
	cacheExport string
	// sums are the helper modules' hashes (moduleSums), by
	// graph.ModuleKey; sumErrs why one could not be read.
	sums    map[string]string
	sumErrs map[string]string
	// files are the finished files the binaries' sessions share.
	shared *finishedFiles
	// images is what happened to each image asked for (publishImages).
	images []ImageResult
	// staged are the units this run staged in out, for a run of several
	// daemons to drop when this one's daemon failed (runFleet).
	// units are the staged units by binary (results' index).
	stagedMu sync.Mutex
	staged   []*outdir.Unit
	units    map[int]*outdir.Unit
}

// stage stages u, binary i's, and keeps it among the run's.
func (s *solve) stage(i int, u *outdir.Unit) {
	u.Stage()
	s.stagedMu.Lock()
	s.staged = append(s.staged, u)
	if s.units == nil {
		s.units = map[int]*outdir.Unit{}
	}
	s.units[i] = u
	s.stagedMu.Unlock()
}

// unitOf is the unit binary i was staged in.
func (s *solve) unitOf(i int) *outdir.Unit {
	s.stagedMu.Lock()
	defer s.stagedMu.Unlock()
	return s.units[i]
}

// dropStaged drops every unit the run staged: none of them lands.
func (s *solve) dropStaged() {
	s.stagedMu.Lock()
	defer s.stagedMu.Unlock()
	for _, u := range s.staged {
		u.Drop()
	}
	s.staged = nil
}

func newSolve(list *targets.List, out *outdir.Dir, opt Options, d worker, col *collector) *solve {
	bins := list.Binaries()
	s := &solve{list: list, out: out, opt: opt, worker: d, col: col, parallel: maxSessions,
		results: make([]Result, len(bins)), errs: make([]error, len(bins)), sumErrs: map[string]string{}, shared: newFinishedFiles()}
	for i, b := range bins {
		s.results[i] = Result{Target: b.Target, Binary: b, File: b.FileName()} // Platform: the plan's (prepare)
	}
	return s
}

// run resolves the images and makes the graph in one session, then solves
// and stages every binary in a session of its own (see sessions), up to
// maxSessions at once: the solver still runs a stage they share once
// (and one that failed is not run again: eachBinary). A binary's files
// are staged only once its session ended well. With attestDir and
// binaries written, these are solved together as the result of a last
// session, whose provenance is exported there. It fails only for the
// whole run (a lost connection: land).
func (s *solve) run(ctx context.Context, ss sessions, attestDir string) error {
	p, err := s.prepareIn(ctx, ss)
	if p == nil || err != nil {
		return err
	}
	if err := s.checkLoadStore(ctx, p); err != nil {
		return err
	}
	files := s.shared
	s.eachBinary(ctx, p, s.binaryParts(p), func(ctx context.Context, defs []*pb.Definition, i int) error {
		var u *outdir.Unit
		var got file
		var err error
		// The binary's error is the build function's too, so BuildKit's
		// build history records its session as failed.
		serr := ss.session(ctx, func(ctx context.Context, gc gateway.Client) (*gateway.Result, error) {
			name := s.results[i].Binary.Name
			_, unverified := p.g.Unverified[name]
			u, got, err = s.binary(ctx, gc, defs, p.g.Finished[name], !unverified, files, &s.results[i])
			return nil, err
		}, sessionOpt{name: s.results[i].File})
		if err == nil {
			err = serr
		}
		if err != nil {
			if u != nil {
				u.Drop() // read back, but its session failed: a FAILED row keeps its old file
			}
			return err
		}
		s.stage(i, u)
		r := &s.results[i]
		r.Size, r.SHA256, r.Time = got.size, got.sha256, got.time
		r.Unverified = p.g.Unverified[r.Binary.Name]
		r.Verified = r.Unverified == ""
		return nil
	})
	if s.lostConnection() != nil {
		return nil // land fails the run
	}
	s.prepared = p
	if err := ctx.Err(); err != nil || !s.anyWritten() {
		return err // nothing built, nothing attested: the summary says why
	}
	if s.opt.ModuleSums {
		s.sums = s.moduleSums(ctx, ss, p)
	}
	if s.opt.SBOM {
		if err := s.sbom(ctx, ss, p); err != nil {
			return err
		}
	}
	if attestDir == "" {
		return nil
	}
	s.attested = true
	return ss.session(ctx, func(ctx context.Context, gc gateway.Client) (*gateway.Result, error) {
		return s.verifiedResult(ctx, gc, p)
	}, sessionOpt{attestDir: attestDir, name: "llbgen provenance"})
}

// anyWritten reports whether a binary was built and staged.
func (s *solve) anyWritten() bool {
	return slices.ContainsFunc(s.results, Result.Written)
}

// maxSessions bounds the binary sessions open at once. Each is a session
// on the daemon (a gRPC stream, the attachables, a build job and its
// history record) and goroutines here, and the solver runs a vertex that
// several share once however many ask at once: a list of hundreds of
// binaries gains nothing from hundreds of sessions. A static binary's own
// work is one check, started when the shared compile ends: the binaries
// past the bound start only as others end, pulling their images then. 64
// make a list of 64 images one wave (on 2 cores, 32 at once cost the scale
// benchmark about 5 s more than 64).
const maxSessions = 64

// eachBinary builds every binary the graph builds (build, given the
// definitions of the states parts gives it, returns its error, kept in s.errs),
// in list order, each in a goroutine of its own, at most s.parallel at
// once, and waits for them all. A binary is failed without being started:
//   - with the error of a binary whose solve already failed at a vertex of
//     its definition (a shared stage: the download, a static compile, the
//     stage tool, an image). BuildKit keeps a failed vertex's error only
//     while a job still uses it and caches no failed result, and each
//     session is a job of its own: started later, the binary would run
//     the failed stage again, once per wave of sessions. With the same
//     error, it gets the same cause and is given with the others once;
//   - when the run is canceled, or once a binary lost the connection to
//     the daemon (codes.Unavailable): the binaries in flight are canceled
//     too, and the run fails (land).
func (s *solve) eachBinary(ctx context.Context, p *prepared, parts func(name string) []llb.State, build func(ctx context.Context, defs []*pb.Definition, i int) error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	names := slices.SortedFunc(maps.Keys(p.idx), func(a, b string) int { return cmp.Compare(p.idx[a], p.idx[b]) })
	slots := make(chan struct{}, max(s.parallel, 1))
	var wg sync.WaitGroup
	for _, name := range names {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			i := p.idx[name]
			s.errs[i] = s.startBinary(ctx, parts(name), func(defs []*pb.Definition) error { return build(ctx, defs, i) })
			if grpcerrors.Code(s.errs[i]) == codes.Unavailable {
				cancel()
			}
		}()
	}
	wg.Wait()
}

// startBinary marshals a binary's states and builds it, unless the run is
// over or a definition holds a vertex that failed already (eachBinary).
func (s *solve) startBinary(ctx context.Context, sts []llb.State, build func([]*pb.Definition) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// --no-cache: the binaries' own sessions solve every vertex again;
	// the sessions after them (cache export, provenance, images) take
	// what those made, not another build.
	var co []llb.ConstraintsOpt
	if s.opt.NoCache {
		co = append(co, llb.IgnoreCache)
	}
	defs := make([]*pb.Definition, len(sts))
	for j, st := range sts {
		def, err := s.definitionFor(ctx, func() (llb.State, error) { return st, nil }, s.worker.platform, co...)
		if err != nil {
			return err
		}
		// A vertex several binaries share serves each binary whose
		// definition holds it, solved or not.
		s.col.learn(def)
		if err := s.failedAlready(def); err != nil {
			return err
		}
		defs[j] = def
	}
	return build(defs)
}

// failedAlready is the error of the first solve that failed at a vertex
// of def, or nil.
func (s *solve) failedAlready(def *pb.Definition) error {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	if len(s.failedAt) == 0 {
		return nil
	}
	for d := range vertices(def) {
		if err, ok := s.failedAt[d]; ok {
			return err
		}
	}
	return nil
}

// noteFailure keeps the vertex at which a solve failed, with its error,
// for eachBinary: called in the session of the solve, while BuildKit still
// holds the vertex's error, so no binary started afterwards runs it again.
// A canceled solve or a lost connection failed at no vertex.
func (s *solve) noteFailure(ctx context.Context, err error) {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || grpcerrors.Code(err) == codes.Unavailable {
		return
	}
	f, ok := s.col.culprit(err)
	if !ok {
		return
	}
	s.failMu.Lock()
	defer s.failMu.Unlock()
	if s.failedAt == nil {
		s.failedAt = map[digest.Digest]error{}
	}
	if _, known := s.failedAt[f.vertex]; !known {
		s.failedAt[f.vertex] = err
	}
}

// verifiedResult solves the written binaries together, as the session's
// result.
func (s *solve) verifiedResult(ctx context.Context, gc gateway.Client, p *prepared) (*gateway.Result, error) {
	res, err := s.evaluate(ctx, gc, func() (llb.State, error) {
		var states []llb.State
		for _, r := range s.results {
			if i, ok := p.idx[r.Binary.Name]; ok && s.errs[i] == nil {
				states = append(states, p.g.Delivered[r.Binary.Name])
			}
		}
		return llb.Merge(states), nil // run asks only when one was written
	})
	if err != nil {
		return nil, fmt.Errorf("solving the result: %w", err)
	}
	return res, nil
}

// evaluate marshals the state mk makes for the daemon's platform and
// solves it, waiting for the result. A solve error is returned as it is,
// so callers can tell a lost connection.
func (s *solve) evaluate(ctx context.Context, gc gateway.Client, mk func() (llb.State, error)) (*gateway.Result, error) {
	def, err := s.definition(ctx, mk)
	if err != nil {
		return nil, err
	}
	return s.solveDef(ctx, gc, def)
}

// solveBinaryDef is solveDef for a binary's own session: a definition
// holding a vertex that failed already fails with its error, unsolved. A
// session started before the failure, that solves only after the
// sessions that shared the vertex ended, would run it again (eachBinary).
// Not for the sessions after the binaries' (cache export, provenance,
// SBOM): what they solve was built.
func (s *solve) solveBinaryDef(ctx context.Context, gc gateway.Client, def *pb.Definition) (*gateway.Result, error) {
	if err := s.failedAlready(def); err != nil {
		return nil, err
	}
	return s.solveDef(ctx, gc, def)
}

// solveDef solves a marshalled definition, waiting for the result; the
// vertex a failed solve failed at is kept (noteFailure).
func (s *solve) solveDef(ctx context.Context, gc gateway.Client, def *pb.Definition) (*gateway.Result, error) {
	res, err := gc.Solve(ctx, gateway.SolveRequest{Definition: def, Evaluate: true})
	if err != nil {
		s.noteFailure(ctx, err)
		return nil, err
	}
	return res, nil
}

// definition makes a state with mk and marshals it for the daemon's
// platform, one at a time: the binaries' states share vertices (the
// download, the static compile, an image), and llb is not safe for
// concurrent use of a vertex (an exec's Marshal sorts its mounts in
// place; graph.Cell builds on the shared states).
func (s *solve) definition(ctx context.Context, mk func() (llb.State, error)) (*pb.Definition, error) {
	return s.definitionFor(ctx, mk, s.worker.platform)
}

// definitionFor is definition for platform p, with more constraints.
func (s *solve) definitionFor(ctx context.Context, mk func() (llb.State, error), p ocispecs.Platform, more ...llb.ConstraintsOpt) (*pb.Definition, error) {
	s.llbMu.Lock()
	defer s.llbMu.Unlock()
	st, err := mk()
	if err != nil {
		return nil, err
	}
	def, err := st.Marshal(ctx, append([]llb.ConstraintsOpt{llb.Platform(p)}, more...)...)
	if err != nil {
		return nil, fmt.Errorf("marshalling: %w", err)
	}
	return def.ToPB(), nil
}

// chunk keeps each read under gRPC's message size limit, and the memory
// of maxSessions reads at once bounded.
const chunk = 1 << 20

// file is a binary read back: its size and sha256.
type file struct {
	size   int64
	sha256 string
	time   time.Time
}

// binaryParts gives, by binary name, what `llbgen build` solves for it:
// its finished files and, when it is run in its image, its check. Not its
// delivery: that copies the finished files under the binary's name in the
// daemon, once per binary (64 copies of one static binary for 64 images),
// and they are read back from there; here the check's verdict is read,
// the finished files read once for the binaries that share them, and the
// bytes the verdict names written under each binary's name.
func (s *solve) binaryParts(p *prepared) func(string) []llb.State {
	return func(name string) []llb.State {
		sts := []llb.State{p.g.Finished[name].State}
		if v, ok := p.g.Verdict(name); ok {
			sts = append(sts, v) // the check, and its verdict alone: what a cache export holds
		}
		return sts
	}
}

// binary solves one binary's finished files (defs[0], f) and, unless the
// graph passes it on unverified, its check (defs[1]), at once; it reads
// the check's verdict and the files, and stages them in a unit of the
// output directory, for the caller to stage (Unit.Stage) and to note in r
// once the session has ended well. A binary lands only as the bytes its
// check ran. On error, the unit is nil.
func (s *solve) binary(ctx context.Context, gc gateway.Client, defs []*pb.Definition, f graph.Finished, verified bool, files *finishedFiles, r *Result) (*outdir.Unit, file, error) {
	name := r.Binary.Name
	if verified != (len(defs) == 2) {
		return nil, file{}, fmt.Errorf("solving %s: the graph has %d states for a binary verified %v", name, len(defs), verified)
	}
	key := resultKey(defs[0])
	if f.Users > 1 {
		defer files.done(key, f.Users) // whatever happens to this binary
	}
	var (
		wg       sync.WaitGroup
		checked  string // the sha256 the verdict names
		checkErr error
	)
	if verified {
		wg.Add(1)
		go func() {
			defer wg.Done()
			checked, checkErr = s.verdict(ctx, gc, defs[1], r.Binary)
		}()
	}
	res, err := s.solveBinaryDef(ctx, gc, defs[0])
	wg.Wait()
	if err := firstError(checkErr, err); err != nil {
		return nil, file{}, fmt.Errorf("solving %s: %w", name, err)
	}
	ref, err := res.SingleRef()
	if err != nil {
		return nil, file{}, fmt.Errorf("solving %s: %w", name, err)
	}
	src := []fileSource{{ref: ref, path: f.Path, mode: 0o755}, {ref: ref, path: f.Path + graph.BuildInfoSuffix, mode: 0o644}}
	if f.Users > 1 {
		// one read for every binary with these files (a static
		// compile's); a cgo binary's are its own, read as they are
		// written, not held
		if src, err = files.read(ctx, key, src); err != nil {
			return nil, file{}, fmt.Errorf("reading the binary of %s: %w", name, err)
		}
	}
	// the binary and its build information land together or not at all
	u := s.out.Unit()
	sum, size, mtime, err := src[0].stage(ctx, u, r.File)
	if err == nil && verified && sum != checked {
		err = fmt.Errorf("its files hold sha256 %s, its check in %s ran %s", sum, r.Binary.Target.Image.Ref, checked)
	}
	if err != nil {
		u.Drop()
		return nil, file{}, fmt.Errorf("reading the binary of %s: %w", name, err)
	}
	if _, _, _, err := src[1].stage(ctx, u, r.File+graph.BuildInfoSuffix); err != nil {
		u.Drop()
		return nil, file{}, fmt.Errorf("reading the build information of %s: %w", name, err)
	}
	return u, file{size: size, sha256: sum, time: mtime}, nil
}

// firstError is the error of a binary's two solves to tell: a lost
// connection or a cancellation (they stop the run), else the check's,
// which names what failed in the binary's own image; nil when both
// succeeded.
func firstError(check, files error) error {
	for _, err := range []error{check, files} {
		if err != nil && (grpcerrors.Code(err) == codes.Unavailable || errors.Is(err, context.Canceled)) {
			return err
		}
	}
	if check != nil {
		return check
	}
	return files
}

// verdict solves a binary's check, def, and returns the sha256 its
// verdict names: the binary it ran. The verdict is read bounded, as the
// image's code could have written there; a check that left none (only a
// stage tool whose check failed leaves none, and it fails its stage) or
// another file fails the binary with that cause.
func (s *solve) verdict(ctx context.Context, gc gateway.Client, def *pb.Definition, bin targets.Binary) (string, error) {
	res, err := s.solveBinaryDef(ctx, gc, def)
	if err != nil {
		return "", err
	}
	ref, err := res.SingleRef()
	if err != nil {
		return "", err
	}
	data, err := ref.ReadFile(ctx, gateway.ReadRequest{Filename: graph.VerdictFile, Range: &gateway.FileRange{Length: stagetool.MaxVerdict + 1}})
	switch {
	case err != nil && (grpcerrors.Code(err) == codes.Unavailable || ctx.Err() != nil):
		return "", err
	case err != nil:
		return "", fmt.Errorf("its check in %s left no verdict (%s)", bin.Target.Image.Ref, plan.FirstLine(scrub(err.Error())))
	}
	sum, ok := stagetool.VerdictSum(data)
	if !ok {
		return "", fmt.Errorf("its check in %s left a verdict that is not the stage tool's (%d bytes)", bin.Target.Image.Ref, len(data))
	}
	return sum, nil
}

// resultKey names what a marshalled definition solves: the digest of its
// last op, which returns the solved vertex.
func resultKey(def *pb.Definition) digest.Digest {
	if len(def.Def) == 0 {
		return ""
	}
	return digest.FromBytes(def.Def[len(def.Def)-1])
}

// fileSource is one file of a solved result to stage, or its bytes once
// read (read set).
type fileSource struct {
	ref  gateway.Reference
	path string
	mode os.FileMode
	// read is set once the file was read into data, with its sha256 and
	// time.
	read  bool
	data  []byte
	sum   string
	mtime time.Time
}

// stage stages the file in unit u under name, with its time, and returns
// its sha256, size and time.
func (f fileSource) stage(ctx context.Context, u *outdir.Unit, name string) (string, int64, time.Time, error) {
	if f.read {
		err := u.Write(name, f.mode, f.mtime, func(w io.Writer) error {
			_, err := w.Write(f.data)
			return err
		})
		return f.sum, int64(len(f.data)), f.mtime, err
	}
	return copyOut(ctx, u, f.ref, f.path, name, f.mode)
}

// finishedFiles holds the finished files that several binaries share,
// read once, by the vertex they were read from, until every binary that
// shares them is done (done).
type finishedFiles struct {
	mu sync.Mutex
	m  map[digest.Digest]*finishedEntry
}

type finishedEntry struct {
	// turn is held by the session reading the files; the others wait
	// for it, or for their context.
	turn  chan struct{}
	files []fileSource
	done  int // binaries done with them
}

func newFinishedFiles() *finishedFiles {
	return &finishedFiles{m: map[digest.Digest]*finishedEntry{}}
}

// entry is vertex d's entry, made on first use.
func (c *finishedFiles) entry(d digest.Digest) *finishedEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[d]
	if !ok {
		e = &finishedEntry{turn: make(chan struct{}, 1)}
		c.m[d] = e
	}
	return e
}

// read returns src read into memory: read from src's refs the first time
// for vertex d, else what that read got. A read that failed is tried
// again by the next binary.
func (c *finishedFiles) read(ctx context.Context, d digest.Digest, src []fileSource) ([]fileSource, error) {
	e := c.entry(d)
	select {
	case e.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-e.turn }()
	if e.files == nil {
		out := make([]fileSource, len(src))
		for i, f := range src {
			var err error
			if f, err = readIn(ctx, f); err != nil {
				return nil, err
			}
			out[i] = f
		}
		e.files = out
	}
	return e.files, nil
}

// done says one of the users binaries that share vertex d's files is done
// with them, landed or failed: after the last, they are let go.
func (c *finishedFiles) done(d digest.Digest, users int) {
	e := c.entry(d)
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.done++; e.done >= users {
		delete(c.m, d)
	}
}

// held counts the vertices whose files are held.
func (c *finishedFiles) held() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// readIn reads f from its ref into memory.
func readIn(ctx context.Context, f fileSource) (fileSource, error) {
	stat, err := f.ref.StatFile(ctx, gateway.StatRequest{Path: f.path})
	if err != nil {
		return f, err
	}
	var buf bytes.Buffer
	buf.Grow(int(min(stat.Size, maxHeld)))
	sum, _, mtime, err := readStat(ctx, f.ref, f.path, stat, &buf)
	if err != nil {
		return f, err
	}
	f.read, f.data, f.sum, f.mtime = true, buf.Bytes(), sum, mtime
	return f, nil
}

// maxHeld bounds what is set aside before a shared file is read: the
// file's own size, as the daemon states it, up to this.
const maxHeld = 256 << 20

// copyOut stages the file path of a solved result in unit u as name,
// with its time, and returns its sha256, size and time.
func copyOut(ctx context.Context, u *outdir.Unit, ref gateway.Reference, path, name string, mode os.FileMode) (string, int64, time.Time, error) {
	var sum string
	var size int64
	var mtime time.Time
	stat, err := ref.StatFile(ctx, gateway.StatRequest{Path: path})
	if err != nil {
		return "", 0, time.Time{}, err
	}
	mtime = time.Unix(0, stat.ModTime)
	err = u.Write(name, mode, mtime, func(w io.Writer) error {
		var err error
		sum, size, _, err = readStat(ctx, ref, path, stat, w)
		return err
	})
	if err != nil {
		return "", 0, time.Time{}, err
	}
	return sum, size, mtime, nil
}

// readStat writes the file path of a solved result, stat, to w in chunks
// and returns its sha256, size and time.
func readStat(ctx context.Context, ref gateway.Reference, path string, stat *fstypes.Stat, w io.Writer) (string, int64, time.Time, error) {
	h := sha256.New()
	mw := io.MultiWriter(w, h)
	for off := 0; off < int(stat.Size); off += chunk {
		n := min(chunk, int(stat.Size)-off)
		data, err := ref.ReadFile(ctx, gateway.ReadRequest{Filename: path, Range: &gateway.FileRange{Offset: off, Length: n}})
		if err != nil {
			return "", 0, time.Time{}, err
		}
		if len(data) != n {
			return "", 0, time.Time{}, fmt.Errorf("%s: read %d bytes at %d, want %d (the file changed?)", path, len(data), off, n)
		}
		if _, err := mw.Write(data); err != nil {
			return "", 0, time.Time{}, err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), stat.Size, time.Unix(0, stat.ModTime), nil
}

// lostConnection picks out a broken connection among per-target errors: it
// fails the run rather than the targets.
func (s *solve) lostConnection() error {
	for _, err := range s.errs {
		if err != nil && grpcerrors.Code(err) == codes.Unavailable {
			return err
		}
	}
	return nil
}

// explainFailures gives every failed binary its one-line cause and the
// stage that failed it, read from the progress the daemon sent: call it
// once the sessions are over, as a failed step's last logs may arrive
// after its solve returned.
func (s *solve) explainFailures() {
	for i, err := range s.errs {
		if r := &s.results[i]; err != nil && r.Cause == "" {
			e := s.col.explain(s.list, err)
			r.Vertex, r.Stage, r.Cause = e.vertex, e.stage, e.cause
		}
	}
}

// files names every output file of the list.
func (s *solve) files() []string {
	var names []string
	for _, b := range s.list.Binaries() {
		names = append(names, b.FileName())
	}
	return names
}
