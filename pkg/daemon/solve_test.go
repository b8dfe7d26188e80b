package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/solver/errdefs"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/outdir"
)

// The solve code against a fake daemon (fakegateway_test.go): what lands,
// what fails the run, and the causes, for testYAML's binaries.

// fakeRun is one run of testYAML's list on a fake daemon that runs
// linux/amd64 and linux/arm64, into a fresh output directory holding an
// old file for every binary.
type fakeRun struct {
	d   *fakeDaemon
	s   *solve
	dir string
}

func newFakeRun(t *testing.T, d *fakeDaemon) *fakeRun {
	t.Helper()
	return newFakeRunOf(t, d, testYAML)
}

// newFakeRunOf is newFakeRun of another list.
func newFakeRunOf(t *testing.T, d *fakeDaemon, yaml string) *fakeRun {
	t.Helper()
	list := parseList(t, yaml)
	dir := t.TempDir()
	for _, b := range list.Binaries() {
		if err := os.WriteFile(filepath.Join(dir, b.FileName()), []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := outdir.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	d.col = newCollector()
	w := worker{platform: amd64, platforms: []ocispecs.Platform{amd64, platforms.MustParse("linux/arm64")}}
	return &fakeRun{d: d, s: newSolve(list, out, Options{Addr: "unix:///fake.sock"}, w, d.col), dir: dir}
}

// run builds and lands, as Run does once connected.
func (r *fakeRun) run(t *testing.T) (*Outcome, error) {
	t.Helper()
	ctx := context.Background()
	return r.s.land(ctx, r.s.run(ctx, r.d, ""), "")
}

// runAttested builds and lands with provenance, as Run does once
// connected.
func (r *fakeRun) runAttested(t *testing.T) (*Outcome, error) {
	t.Helper()
	ctx := context.Background()
	attest := t.TempDir()
	return r.s.land(ctx, r.s.run(ctx, r.d, attest), attest)
}

// result is the result of binary name.
func (r *fakeRun) result(t *testing.T, o *Outcome, name string) Result {
	t.Helper()
	for _, res := range o.Results {
		if res.Binary.Name == name {
			return res
		}
	}
	t.Fatalf("no result for %s", name)
	return Result{}
}

// landed reports whether binary name's file holds what the fake daemon
// served (its finished files' vertex's, as llbgen build reads it), not
// the old file.
func (r *fakeRun) landed(t *testing.T, name string) bool {
	t.Helper()
	for _, b := range r.s.list.Binaries() {
		if b.Name != name {
			continue
		}
		data, err := os.ReadFile(filepath.Join(r.dir, b.FileName()))
		if err != nil {
			t.Fatal(err)
		}
		if r.s.prepared == nil {
			return false // nothing was built
		}
		f := r.s.prepared.g.Finished[name]
		def, err := f.State.Marshal(context.Background(), llb.Platform(r.s.worker.platform))
		if err != nil {
			t.Fatal(err)
		}
		ops := map[digest.Digest]*pb.Op{}
		for _, dt := range def.Def {
			var op pb.Op
			if err := op.Unmarshal(dt); err != nil {
				t.Fatal(err)
			}
			ops[digest.FromBytes(dt)] = &op
		}
		return string(data) == string(fakeContent(f.Path, contentOf(ops, headOf(def.ToPB()))))
	}
	t.Fatalf("no binary %s", name)
	return false
}

var allBinaries = []string{"docker_19.03.12", "twin", "multi-linux-amd64", "multi-linux-arm64", "runner-cgo"}

func TestEveryBinaryLands(t *testing.T) {
	r := newFakeRun(t, &fakeDaemon{})
	o, err := r.run(t)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range allBinaries {
		if res := r.result(t, o, name); !res.Verified || res.Cause != "" || !r.landed(t, name) {
			t.Errorf("%s: verified %v, cause %q, landed %v", name, res.Verified, res.Cause, r.landed(t, name))
		}
	}
	if len(r.d.returned) != 0 {
		t.Errorf("build functions failed in a run that failed nothing: %v", r.d.returned)
	}
}

// Each result names the platform the plan built its binary for: a
// target's own, or the build's --platform for targets that name none
// (plan.PlatformOf), not the daemon's.
func TestResultsNameThePlannedPlatform(t *testing.T) {
	r := newFakeRun(t, &fakeDaemon{})
	r.s.opt.Plan.Platforms = []ocispecs.Platform{platforms.MustParse("linux/arm64")}
	o, err := r.run(t)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range allBinaries {
		want := "linux/arm64"
		if name == "multi-linux-amd64" {
			want = "linux/amd64"
		}
		if res := r.result(t, o, name); res.Platform != want || !res.Verified {
			t.Errorf("%s: platform %q, verified %v; want %s", name, res.Platform, res.Verified, want)
		}
	}
}

// With provenance, the attestation of the binaries written lands beside
// them; when nothing was built, there is none, and the run ends with its
// outcome (the summary says why), not an error.
func TestProvenanceOnlyOfWhatWasBuilt(t *testing.T) {
	r := newFakeRun(t, &fakeDaemon{})
	if _, err := r.runAttested(t); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(r.dir, "provenance.json")); err != nil {
		t.Errorf("no attestation beside the binaries: %v", err)
	}

	r = newFakeRun(t, &fakeDaemon{fail: []fakeFailure{{match: kind(graph.KindDownload), vertexErr: "exit code: 1", log: "go: no route\n"}}})
	o, err := r.runAttested(t)
	if err != nil {
		t.Fatalf("nothing built: %v, want an outcome", err)
	}
	if o.Failed() != len(allBinaries) {
		t.Errorf("%d of %d failed", o.Failed(), len(allBinaries))
	}
	if _, err := os.Stat(filepath.Join(r.dir, "provenance.json")); err == nil {
		t.Error("an attestation of nothing landed")
	}
}

// A binary's build function returns its solve error, so BuildKit's build
// history records that binary's build as failed, and the others land.
func TestAFailedBinaryFailsItsSession(t *testing.T) {
	r := newFakeRun(t, &fakeDaemon{fail: []fakeFailure{{match: kind(graph.KindVerify, "twin"), vertexErr: "exit code: 1"}}})
	o, err := r.run(t)
	if err != nil {
		t.Fatal(err)
	}
	var ve *errdefs.VertexError
	if len(r.d.returned) != 1 || !errors.As(r.d.returned[0], &ve) || !strings.Contains(r.d.returned[0].Error(), "solving twin") {
		t.Errorf("build functions returned %v, want twin's solve error alone", r.d.returned)
	}
	for _, name := range allBinaries {
		if res := r.result(t, o, name); res.Written() != (name != "twin") || r.landed(t, name) != (name != "twin") {
			t.Errorf("%s: written %v, landed %v", name, res.Written(), r.landed(t, name))
		}
	}
}

// A session that fails after its binary was read back (BuildKit could not
// end it) fails the binary: its row says FAILED, and its old file stays.
func TestAFailedSessionLandsNothing(t *testing.T) {
	r := newFakeRun(t, &fakeDaemon{endFails: kind(graph.KindVerdict, "twin")})
	o, err := r.run(t)
	if err != nil {
		t.Fatal(err)
	}
	if res := r.result(t, o, "twin"); res.Written() || res.Cause == "" || r.landed(t, "twin") || res.Size != 0 || res.SHA256 != "" {
		t.Errorf("twin: written %v, cause %q, landed %v, size %d, sha256 %q", res.Written(), res.Cause, r.landed(t, "twin"), res.Size, res.SHA256)
	}
	for _, name := range allBinaries {
		if res := r.result(t, o, name); name != "twin" && (!res.Verified || !r.landed(t, name)) {
			t.Errorf("%s did not land: %+v", name, res)
		}
	}
}

// A check that left no verdict (code of the image removed it) fails its
// binary alone, saying so: the binary is not read, its old file stays.
func TestAMissingVerdictFailsItsBinary(t *testing.T) {
	r := newFakeRun(t, &fakeDaemon{noVerdict: kind(graph.KindVerdict, "twin")})
	o, err := r.run(t)
	if err != nil {
		t.Fatal(err)
	}
	res := r.result(t, o, "twin")
	if res.Written() || r.landed(t, "twin") || !strings.Contains(res.Cause, "its check in docker:19.03.12 left no verdict") {
		t.Errorf("twin: written %v, landed %v, cause %q", res.Written(), r.landed(t, "twin"), res.Cause)
	}
	for _, name := range allBinaries {
		if res := r.result(t, o, name); name != "twin" && (!res.Verified || !r.landed(t, name)) {
			t.Errorf("%s did not land: %+v", name, res)
		}
	}
}

// A binary lands only as the bytes its check ran: a verdict that names
// other bytes (a compile that gave other bytes in another session, or
// code of the image) fails the binary alone, saying so.
func TestAVerdictForOtherBytesFailsItsBinary(t *testing.T) {
	r := newFakeRun(t, &fakeDaemon{otherVerdict: kind(graph.KindVerdict, "twin")})
	o, err := r.run(t)
	if err != nil {
		t.Fatal(err)
	}
	res := r.result(t, o, "twin")
	if res.Written() || r.landed(t, "twin") || !strings.Contains(res.Cause, "its check in docker:19.03.12 ran "+strings.Repeat("0", 64)) {
		t.Errorf("twin: written %v, landed %v, cause %q", res.Written(), r.landed(t, "twin"), res.Cause)
	}
	for _, name := range allBinaries {
		if res := r.result(t, o, name); name != "twin" && (!res.Verified || !r.landed(t, name)) {
			t.Errorf("%s did not land: %+v", name, res)
		}
	}
	// twin shared its files with docker_19.03.12: they are let go all the same
	if n := r.s.shared.held(); n != 0 {
		t.Errorf("the files of %d vertices are still held after the run", n)
	}
}

// The static binaries of a helper and platform are one compile's files:
// llbgen build reads them once, and reads no delivery.
func TestSharedFilesAreReadOnce(t *testing.T) {
	r := newFakeRun(t, &fakeDaemon{hold: 10 * time.Millisecond})
	o, err := r.run(t)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range allBinaries {
		if res := r.result(t, o, name); !res.Verified || !r.landed(t, name) {
			t.Errorf("%s did not land: %+v", name, res)
		}
	}
	// docker_19.03.12 and twin share the amd64 compile; multi's arm64
	// binary has its own; runner-cgo its finish stage
	read := 0
	for f, n := range r.d.reads {
		if !strings.HasPrefix(f, "/docker-credential-") {
			continue // the plan's look at the toolchain
		}
		read++
		if n != 1 {
			t.Errorf("%s was read %d times, want once", f, n)
		}
	}
	if read != 2*3 {
		t.Errorf("files read: %v, want a binary and its build information from each of 3 vertices", r.d.reads)
	}
	for _, k := range r.d.solved {
		if k == graph.KindDeliver {
			t.Errorf("a delivery was solved: llbgen build reads the finished files")
		}
	}
}

// No more binary sessions run at once than the bound, and every binary
// is built all the same.
func TestBinarySessionsAreBounded(t *testing.T) {
	r := newFakeRun(t, &fakeDaemon{hold: 20 * time.Millisecond})
	r.s.parallel = 2
	o, err := r.run(t)
	if err != nil {
		t.Fatal(err)
	}
	if r.d.maxOpen != 2 {
		t.Errorf("%d sessions were open at once, want 2 (the bound, reached)", r.d.maxOpen)
	}
	for _, name := range allBinaries {
		if res := r.result(t, o, name); !res.Verified || !r.landed(t, name) {
			t.Errorf("%s did not land: %+v", name, res)
		}
	}
}

// A binary that fails its verify fails alone: the others land, its old
// file stays, and its cause is its verify stage's diagnosis.
func TestPartialFailureLandsTheGoodBinaries(t *testing.T) {
	r := newFakeRun(t, &fakeDaemon{fail: []fakeFailure{{
		match:     kind(graph.KindVerify, "twin"),
		vertexErr: "exit code: 1",
		log:       "llbgen: target twin: the binary does not run in its image: exec format error\n",
	}}})
	o, err := r.run(t)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range allBinaries {
		res := r.result(t, o, name)
		if name == "twin" {
			if res.Written() || r.landed(t, name) || res.Cause != "verify failed: the binary does not run in its image: exec format error" || res.Stage.Kind != graph.KindVerify {
				t.Errorf("twin: written %v, landed %v, stage %q, cause %q", res.Written(), r.landed(t, name), res.Stage.Kind, res.Cause)
			}
			continue
		}
		if !res.Verified || !r.landed(t, name) {
			t.Errorf("%s did not land: %+v", name, res)
		}
	}
}

// A lost connection stops the run: no session is opened for the binaries
// not started yet, and the run fails with nothing landed.
func TestLostConnectionStopsTheRun(t *testing.T) {
	r := newFakeRun(t, &fakeDaemon{lost: kind(graph.KindVerify, "docker_19.03.12")})
	r.s.parallel = 1 // the list's first binary first, alone
	o, err := r.run(t)
	var lost *LostError
	if !errors.As(err, &lost) || o != nil {
		t.Fatalf("outcome %v, error %v; want a LostError", o, err)
	}
	if r.d.sessions != 2 {
		t.Errorf("%d sessions were opened, want 2: the plan's and the binary that lost the connection", r.d.sessions)
	}
}

// A shared stage that fails runs once, however many binaries it feeds:
// the binaries started after it failed fail with its error, without a
// session of their own, in which BuildKit would run it again (it keeps a
// failed vertex's error only while a session uses it).
func TestAFailedSharedStageRunsOnce(t *testing.T) {
	const n = 2*maxSessions + 6 // more than two waves of maxSessions
	yaml := "helper: {version: v0.12.0}\ngo: golang:1.26\ntargets:\n"
	for i := range n {
		yaml += fmt.Sprintf("  - image: docker:19.03.12\n    name: t%02d\n", i)
	}
	r := newFakeRunOf(t, &fakeDaemon{runTime: 100 * time.Millisecond, fail: []fakeFailure{{
		match: kind(graph.KindDownload), vertexErr: "exit code: 1", log: "go: github.com/x: no route to host\n",
	}}}, yaml)
	o, err := r.run(t)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.d.runs) != 1 {
		t.Fatalf("failing vertices run: %v, want the download's", r.d.runs)
	}
	for d, runs := range r.d.runs {
		if runs != 1 {
			t.Errorf("the download %s ran %d times for %d binaries, want once", d, runs, n)
		}
	}
	if r.d.sessions > 1+maxSessions {
		t.Errorf("%d sessions opened, want at most the plan's and a first wave's %d", r.d.sessions, maxSessions)
	}
	fs := o.Failures()
	if len(fs) != 1 || len(fs[0].Binaries) != n || fs[0].Cause != "downloading the helper module failed: github.com/x: no route to host" {
		t.Errorf("failures %+v, want the download's once for all %d binaries", fs, n)
	}
}

// A layer the registry lost is the image's failure, however many stages
// found it: two binaries of one image whose verifies (two vertices) both
// hit it are one failure, whose stage is the image's pull.
func TestALostLayerIsOneFailureOfItsImage(t *testing.T) {
	const layer = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	lost := "failed to copy: could not fetch content descriptor " + layer + " (application/vnd.oci.image.layer.v1.tar+gzip) from remote: not found"
	var fails []fakeFailure
	for _, name := range []string{"docker_19.03.12", "twin"} {
		fails = append(fails, fakeFailure{match: kind(graph.KindVerify, name), vertexErr: lost})
	}
	r := newFakeRun(t, &fakeDaemon{fail: fails})
	o, err := r.run(t)
	if err != nil {
		t.Fatal(err)
	}
	const want = "pulling the image docker:19.03.12 (linux/amd64) failed: its layer " + layer + " could not be fetched from the registry: not found"
	fs := o.Failures()
	if len(fs) != 1 || fs[0].Cause != want || !slices.Equal(fs[0].Binaries, []string{"docker_19.03.12", "twin"}) {
		t.Errorf("failures %+v, want one: docker_19.03.12, twin: %s", fs, want)
	}
	for _, name := range []string{"docker_19.03.12", "twin"} {
		if res := r.result(t, o, name); res.Stage.Kind != graph.KindImage || res.Stage.Image != "docker:19.03.12" || res.Stage.Platform != "linux/amd64" {
			t.Errorf("%s: stage %+v, want the pull of docker:19.03.12 (linux/amd64)", name, res.Stage)
		}
	}
}

// A lost connection in one binary's solve fails the run: nothing lands.
func TestLostConnectionFailsTheRun(t *testing.T) {
	r := newFakeRun(t, &fakeDaemon{lost: kind(graph.KindVerify, "twin")})
	o, err := r.run(t)
	var lost *LostError
	if !errors.As(err, &lost) || o != nil {
		t.Fatalf("outcome %v, error %v; want a LostError", o, err)
	}
	for _, name := range allBinaries {
		if r.landed(t, name) {
			t.Errorf("%s landed in a run that failed", name)
		}
	}
}

// A shared stage that fails (the static compile for linux/amd64) is the one
// cause of every binary it fed, named with the compiler's first error;
// the binaries it did not feed land.
func TestSharedStageIsTheCauseOfEveryBinaryItFed(t *testing.T) {
	r := newFakeRun(t, &fakeDaemon{fail: []fakeFailure{{
		match:     func(s graph.Stage) bool { return s.Kind == graph.KindStatic && s.Platform == "linux/amd64" },
		vertexErr: "exit code: 1",
		log:       "# net/http\n/usr/local/go/src/net/http/server.go:4074:14: syntax error: unexpected {, expected name\nllbgen: go build: exit status 1\n",
	}}})
	o, err := r.run(t)
	if err != nil {
		t.Fatal(err)
	}
	const want = "compiling the helper for linux/amd64 failed: /usr/local/go/src/net/http/server.go:4074:14: syntax error: unexpected {, expected name"
	for _, name := range []string{"docker_19.03.12", "twin", "multi-linux-amd64"} {
		res := r.result(t, o, name)
		if res.Written() || res.Cause != want || res.Stage.Kind != graph.KindStatic || !res.Stage.Kind.Shared() {
			t.Errorf("%s: written %v, stage %+v, cause %q", name, res.Written(), res.Stage, res.Cause)
		}
	}
	for _, name := range []string{"multi-linux-arm64", "runner-cgo"} {
		if res := r.result(t, o, name); !res.Verified || !r.landed(t, name) {
			t.Errorf("%s was not fed by the failed static compile, and did not land: %+v", name, res)
		}
	}
}

// A vertex two binaries share fails both and is one failure naming both:
// the pull of an image two targets use (an image's vertex names no binary).
// (The static compile every static binary of a platform shares is
// TestSharedStageIsTheCauseOfEveryBinaryItFed's.)
func TestASharedVertexIsOneFailure(t *testing.T) {
	const twoCgo = `helper: {version: v0.12.0}
go: golang:1.26
targets:
  - image: gitlab/gitlab-runner:v13.2.1
    name: cgo-a
    cgo: true
    setup: [apt-get update]
  - image: gitlab/gitlab-runner:v13.2.1
    name: cgo-b
    cgo: true
    setup: [apt-get update]
  - image: docker:19.03.12
`
	for _, tc := range []struct {
		name   string
		yaml   string
		match  func(graph.Stage) bool
		log    string
		want   string
		pair   []string // the two binaries the vertex fails
		serve  []string // the binaries the failed vertex's stage serves
		landed []string
	}{
		{
			name: "pull",
			yaml: testYAML,
			match: func(s graph.Stage) bool {
				return s.Kind == graph.KindImage && s.Image == "docker:19.03.12"
			},
			want:   "pulling the image docker:19.03.12 (linux/amd64) failed: exit code: 1",
			pair:   []string{"docker_19.03.12", "twin"},
			landed: []string{"multi-linux-amd64", "multi-linux-arm64", "runner-cgo"},
		},
		{
			// each binary's definition marks the setup with its own binary
			// only: the collector learns both
			name: "setup two cgo targets of one image share",
			yaml: twoCgo,
			match: func(s graph.Stage) bool {
				return s.Kind == graph.KindSetup
			},
			log:    "E: Unable to locate package x\n",
			want:   `setup command "apt-get update" failed: E: Unable to locate package x`,
			pair:   []string{"cgo-a", "cgo-b"},
			serve:  []string{"cgo-a", "cgo-b"},
			landed: []string{"docker_19.03.12"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newFakeRunOf(t, &fakeDaemon{fail: []fakeFailure{{match: tc.match, vertexErr: "exit code: 1", log: tc.log}}}, tc.yaml)
			o, err := r.run(t)
			if err != nil {
				t.Fatal(err)
			}
			fs := o.Failures()
			if len(fs) != 1 || fs[0].Cause != tc.want || !slices.Equal(fs[0].Binaries, tc.pair) {
				t.Fatalf("failures %+v, want one: %q: %s", fs, tc.pair, tc.want)
			}
			a, b := r.result(t, o, tc.pair[0]), r.result(t, o, tc.pair[1])
			if a.Vertex == "" || a.Vertex != b.Vertex {
				t.Errorf("failing vertices %q and %q, want one", a.Vertex, b.Vertex)
			}
			for _, res := range []Result{a, b} {
				if !slices.Equal(res.Stage.Binaries, tc.serve) {
					t.Errorf("%s: the failed stage serves %q, want %q", res.Binary.Name, res.Stage.Binaries, tc.serve)
				}
			}
			for _, name := range tc.landed {
				if res := r.result(t, o, name); !res.Verified || !r.landed(t, name) {
					t.Errorf("%s did not land: %+v", name, res)
				}
			}
		})
	}
}

// Every failed binary's solve names its own failed vertex, however many
// fail: each binary is solved in a session of its own. In one session
// for all, BuildKit's gateway answers the second failure with
// "releasing already released reference" (the fake daemon does too, as
// the control shows).
func TestEveryFailureKeepsItsVertex(t *testing.T) {
	fails := []fakeFailure{
		{match: kind(graph.KindVerify, "docker_19.03.12"), vertexErr: "exit code: 1", log: "llbgen: target docker_19.03.12: one\n"},
		{match: kind(graph.KindVerify, "twin"), vertexErr: "exit code: 1", log: "llbgen: target twin: two\n"},
		{match: kind(graph.KindVerify, "multi-linux-arm64"), vertexErr: "exit code: 1", log: "llbgen: target multi-linux-arm64: three\n"},
	}
	r := newFakeRun(t, &fakeDaemon{fail: fails})
	o, err := r.run(t)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"docker_19.03.12", "twin", "multi-linux-arm64"} {
		var ve *errdefs.VertexError
		if err := r.s.errs[indexOf(t, r.s, name)]; !errors.As(err, &ve) || strings.Contains(err.Error(), "released") {
			t.Errorf("%s: the solve error names no vertex: %v", name, err)
		}
		if res := r.result(t, o, name); res.Cause != "verify failed: "+[]string{"one", "two", "three"}[i] {
			t.Errorf("%s: cause %q", name, res.Cause)
		}
	}

	// The control: the same failures solved in one session.
	b := buildGraph(t, parseList(t, testYAML), graph.Options{})
	d := &fakeDaemon{fail: fails, col: newCollector()}
	one := &fakeSession{d: d, registered: map[digest.Digest]digest.Digest{}}
	released := 0
	for _, name := range []string{"docker_19.03.12", "twin", "multi-linux-arm64"} {
		_, err := recorder{Client: one, col: d.col}.Solve(context.Background(), gateway.SolveRequest{Definition: b.defs[name], Evaluate: true})
		if err != nil && strings.Contains(err.Error(), "releasing already released reference") {
			released++
		}
	}
	if released != 2 {
		t.Errorf("in one session, %d of 3 failures lost their vertex, want 2", released)
	}
}

func indexOf(t *testing.T, s *solve, name string) int {
	t.Helper()
	for i, r := range s.results {
		if r.Binary.Name == name {
			return i
		}
	}
	t.Fatalf("no binary %s", name)
	return -1
}

// The matrix gives a row whose binary did not build the cause a build
// gives it: a shared stage's, the same for every binary it fed; the other
// rows run in every column of their platform.
func TestMatrixCausesAreClassified(t *testing.T) {
	r := newFakeRun(t, &fakeDaemon{fail: []fakeFailure{{
		match:     func(s graph.Stage) bool { return s.Kind == graph.KindStatic && s.Platform == "linux/amd64" },
		vertexErr: "exit code: 1",
		log:       "# net/http\n/usr/local/go/src/net/http/server.go:4074:14: syntax error: unexpected {\n",
	}, {
		match: func(s graph.Stage) bool {
			return s.Kind == graph.KindCell && s.Serves("runner-cgo") && s.Image == "docker:19.03.12"
		},
		vertexErr: "exit code: 2",
		log:       "llbgen: cell: reading the binary: permission denied\n",
	}}})
	r.s.parallel = 1 // one row at a time: the first fed by the static compile fails it
	m, err := r.s.matrix(context.Background(), r.d)
	if err != nil {
		t.Fatal(err)
	}
	r.s.explainMatrix(m)
	const want = "compiling the helper for linux/amd64 failed: /usr/local/go/src/net/http/server.go:4074:14: syntax error: unexpected {"
	if fs := m.Unbuilt(); len(fs) != 1 || fs[0].Cause != want || !slices.Equal(fs[0].Binaries, []string{"docker_19.03.12", "twin", "multi-linux-amd64"}) {
		t.Errorf("unbuilt rows: %+v, want the static compile's cause once with its three binaries", fs)
	}
	// The session of the first row not built failed (BuildKit's history
	// says so); the other two rows the static compile fed failed with its
	// error without a session (it would run again); that of a row with a
	// failed cell did not fail.
	if len(r.d.returned) != 1 {
		t.Errorf("%d build functions failed, want the 1 of the first row not built: %v", len(r.d.returned), r.d.returned)
	}
	for _, row := range m.Rows {
		switch row.Binary.Name {
		case "docker_19.03.12", "twin", "multi-linux-amd64":
			if row.Cause != want || row.Cells != nil || row.Stage.Kind != graph.KindStatic {
				t.Errorf("%s: cause %q, %d cells", row.Binary.Name, row.Cause, len(row.Cells))
			}
		default:
			if row.Cause != "" || len(row.Cells) != len(m.Columns) {
				t.Fatalf("%s: cause %q, %d cells", row.Binary.Name, row.Cause, len(row.Cells))
			}
			for j, c := range row.Cells {
				if row.Binary.Name == "runner-cgo" && m.Columns[j].Image.Ref == "docker:19.03.12" {
					if c.Cause != "could not run it in docker:19.03.12 (linux/amd64): matrix cell failed: cell: reading the binary: permission denied" || !c.NotRun {
						t.Errorf("the failed cell: %+v", c)
					}
					continue
				}
				if ran := platforms.Format(m.Columns[j].Platform) == row.Platform; c.OK != ran || c.OtherPlatform == ran {
					t.Errorf("%s in %s: %+v", row.Binary.Name, m.Columns[j].Image.Ref, c)
				}
			}
		}
	}
}
