package main

import (
	"context"
	"debug/elf"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/distribution/reference"

	"github.com/llbgen/llbgen/internal/testbed"
	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/lock"
	"github.com/llbgen/llbgen/pkg/targets"
)

// TestWays runs one table of scenarios against the three ways of building a
// list, each as a user runs it: `llbgen build`, the pipe `llbgen | buildctl
// build --output type=local,dest=DIR`, and `docker buildx bake` with the
// repository's docker-bake.hcl and the frontend. Each scenario holds one set
// of expectations; they differ per way only where the product's documented
// behaviour does, and a comment says why at each difference. After the ways,
// a scenario's "same" subtest holds them to each other: the same bytes, or
// the same message.
//
// One test bed, one copy of the repository and one llbgen binary serve every
// subtest. Run one cell with -run 'TestWays/good/pipe'.
func TestWays(t *testing.T) {
	bed := testbed.Require(t)
	repo := repoCopy(t)
	lists := t.TempDir()
	llbgenBinary(t)
	all := scenarios(bed)
	inputs := make([]prepared, len(all))
	for i, s := range all {
		inputs[i] = s.prepare(t, bed, repo, lists)
	}
	for i, s := range all {
		t.Run(s.name, func(t *testing.T) {
			s.run(t, bed, repo, inputs[i])
		})
	}
}

func scenarios(bed *testbed.Bed) []scenario {
	missing := bed.Registry + "/nope/missing:1"
	// The musl stand-in's arm64 image by its own tag: RunInImage asks for
	// the daemon's platform, and runs this one under QEMU.
	arm64 := bed.Musl() + "-arm64"
	good := listOf(bed, "  - image: %s\n  - image: %s\n    name: runner\n", bed.Musl(), bed.Glibc())
	goodBinaries := map[string]binary{
		"docker_19.03.12": {bed.Musl(), elf.EM_X86_64, ""},
		"runner":          {bed.Glibc(), elf.EM_X86_64, ""},
	}
	// llbgen build runs its own executable (static, as the test builds it)
	// as the stage tool; the pipe and bake compile it in the daemon. Their
	// files are the same bytes ("same").
	ownTool, compiledTool := "llbgen's own executable, the stage tool", "compile llbgen's stage tool"
	return []scenario{{
		name: "good",
		list: good,
		want: map[string]expect{
			"build": {binaries: goodBinaries, lines: [][]string{{ownTool}}, absent: []string{compiledTool}},
			"pipe":  {binaries: goodBinaries, lines: [][]string{{compiledTool}}, absent: []string{ownTool}},
			"bake":  {binaries: goodBinaries, lines: [][]string{{compiledTool}}, absent: []string{ownTool}},
		},
	}, {
		name: "cgo",
		// A cgo binary: compiled in its image after setup, finished in the
		// go image; llbgen build reads it from its finish stage, the pipe
		// and bake from its delivery: the same bytes ("same"). The setup is
		// TestCompat's, so the daemon has its layers.
		list: listOf(bed, "  - image: %s\n    name: runner-cgo\n    cgo: true\n    setup:\n      - apt-get update\n      - apt-get install -y --no-install-recommends gcc libc6-dev\n", bed.Glibc()),
		want: every(expect{binaries: map[string]binary{"runner-cgo": {bed.Glibc(), elf.EM_X86_64, "/lib64/ld-linux-x86-64.so.2"}}}),
	}, {
		name: "source-date-epoch",
		// The good list again: the same bytes, which must now carry another
		// time. buildx hands SOURCE_DATE_EPOCH from its environment to the
		// build as the build argument the frontend reads.
		list: good,
		env:  []string{"SOURCE_DATE_EPOCH=1700000000"},
		want: every(expect{binaries: goodBinaries, mtime: time.Unix(1700000000, 0)}),
	}, {
		name: "failing-target",
		list: listOf(bed, "  - image: %s\n  - image: %s\n  - image: %s\n", bed.Musl(), bed.Glibc(), missing),
		seed: map[string]string{
			"notes.txt":                        "mine",
			targets.BinaryPrefix + "missing_1": "the old binary",
		},
		want: map[string]expect{
			// llbgen build lands every target that built and exits 1, naming
			// the failed one and its cause on one line; the failed target
			// keeps its old file, which SHA256SUMS still lists.
			"build": {code: 1,
				binaries: map[string]binary{
					"docker_19.03.12":       {bed.Musl(), elf.EM_X86_64, ""},
					"gitlab-runner_v13.2.1": {bed.Glibc(), elf.EM_X86_64, ""},
				},
				sums:  []string{"docker_19.03.12", "gitlab-runner_v13.2.1", "missing_1"},
				lines: [][]string{{"missing_1", missing}},
			},
			// The pipe and bake are one BuildKit build: it fails whole, naming
			// the image, and the local exporter writes nothing.
			"pipe": {code: 1, lines: [][]string{{missing}}, listLine: &listLine{7, "  - image: " + missing}},
			"bake": {code: 1, lines: [][]string{{missing}}, listLine: &listLine{7, "  - image: " + missing}},
		},
	}, {
		name: "bad-list",
		list: "helper:\n  version: v0.12.0\ntargets:\n  - image: docker:19.03.12\n    platfrom: linux/amd64\n",
		want: map[string]expect{
			// llbgen refuses bad input with exit 2, in the pipe before buildctl
			// is given anything (so BuildKit never sees the list there);
			// bake's frontend fails the build, so buildx exits 1. Every way
			// gives the same positioned line.
			"build": {code: 2, lines: [][]string{{"targets.yaml:5:5: "}}},
			"pipe":  {code: 2, lines: [][]string{{"targets.yaml:5:5: "}}},
			"bake":  {code: 1, lines: [][]string{{"targets.yaml:5:5: "}}, listLine: &listLine{5, "    platfrom: linux/amd64"}},
		},
		sameFrom: "targets.yaml:5:5: ",
	}, {
		name: "locked",
		// The repository's own list at the root of the copy (bake's default
		// TARGETS_FILE), its images through the test bed's docker.io mirror,
		// with the lock `llbgen lock` writes beside it.
		repoList: true,
		lock:     true,
		want: every(expect{binaries: map[string]binary{
			"docker_19.03.12":              {bed.Musl(), elf.EM_X86_64, ""},
			"gitlab-runner_v13.2.1":        {bed.Glibc(), elf.EM_X86_64, ""},
			"gitlab-runner_alpine-v13.2.1": {bed.MuslRunner(), elf.EM_X86_64, ""},
		}}),
	}, {
		name: "platforms",
		// One target for two platforms (files named for each) and one for
		// arm64 only (the plain name), cross-compiled and verified in the
		// arm64 image under the test bed's QEMU.
		list: listOf(bed, "  - image: %s\n    name: multi\n    platforms: [linux/amd64, linux/arm64]\n  - image: %s\n    name: arm\n    platforms: [linux/arm64]\n", bed.Musl(), bed.Musl()),
		want: every(expect{binaries: map[string]binary{
			"multi-linux-amd64": {bed.Musl(), elf.EM_X86_64, ""},
			"multi-linux-arm64": {arm64, elf.EM_AARCH64, ""},
			"arm":               {arm64, elf.EM_AARCH64, ""},
		}}),
	}, {
		name: "platform-argument",
		// Only bake takes platforms on its command line (--set
		// binaries.platform, for every target that names none); llbgen and
		// the pipe read them from the list. Both must give the same files.
		list: listOf(bed, "  - image: %s\n    platforms: [linux/arm64]\n", bed.Musl()),
		bake: &bakeInput{list: listOf(bed, "  - image: %s\n", bed.Musl()), platform: "linux/arm64"},
		want: every(expect{binaries: map[string]binary{
			"docker_19.03.12": {arm64, elf.EM_AARCH64, ""},
		}}),
	}, {
		name: "platform-not-linux",
		list: listOf(bed, "  - image: %s\n    platforms: [linux/amd64, windows/amd64]\n", bed.Musl()),
		bake: &bakeInput{list: listOf(bed, "  - image: %s\n", bed.Musl()), platform: "linux/amd64,windows/amd64"},
		want: map[string]expect{
			// The list's platform is bad input, positioned (exit 2); bake's
			// --platform fails the build naming it (buildx exits 1).
			"build": {code: 2, lines: [][]string{{"targets.yaml:6:30: ", `"windows/amd64" is not Linux`}}},
			"pipe":  {code: 2, lines: [][]string{{"targets.yaml:6:30: ", `"windows/amd64" is not Linux`}}},
			"bake":  {code: 1, lines: [][]string{{"--platform", `"windows/amd64" is not Linux`}}},
		},
		sameFrom: `platform "windows/amd64" is not Linux`,
	}}
}

// scenario is one input and what each way must make of it.
type scenario struct {
	name string
	list string // targets.yaml
	// bake, when set, is what bake builds instead of list: the same targets
	// with their platforms on bake's command line.
	bake *bakeInput
	// repoList builds the repository's own targets.yaml instead of list.
	repoList bool
	// lock runs `llbgen lock` on the list first; every way must then pull
	// each image by its locked digest, check the module against the lock
	// and give the files the lock's time.
	lock bool
	env  []string          // added to each way's environment
	seed map[string]string // files in the output directory before the run
	want map[string]expect // by way name
	// sameFrom, when set, starts a line every way prints, and prints the
	// same from there to the end of that line.
	sameFrom string
}

type bakeInput struct {
	list     string
	platform string // --set binaries.platform
}

// expect is what one way must do.
type expect struct {
	code int
	// binaries are the files the way writes (targets.BinaryPrefix + key),
	// each with its build information and listed in SHA256SUMS; nil when
	// the way writes nothing at all.
	binaries map[string]binary
	// sums are the names SHA256SUMS lists, when not the binaries.
	sums []string
	// lines must each be found in the log: all the strings of one on one line.
	lines [][]string
	// listLine is the list's line BuildKit prints under the error (from
	// the frontend's located error, or the definition's source map).
	listLine *listLine
	// mtime, when set, is every written file's modification time.
	mtime time.Time
	// absent are strings no line of the log may hold.
	absent []string
}

// listLine is line n of targets.yaml, which reads text.
type listLine struct {
	n    int
	text string
}

// binary is what one written file is and where it must run.
type binary struct {
	image   string
	machine elf.Machine
	interp  string // a dynamically linked (cgo) binary's ELF interpreter; "" for a static one
}

// every is e for every way.
func every(e expect) map[string]expect {
	return map[string]expect{"build": e, "pipe": e, "bake": e}
}

// listOf is a list with the test bed's toolchain and the targets in
// format (YAML items), made with args.
func listOf(bed *testbed.Bed, format string, args ...any) string {
	return fmt.Sprintf("helper:\n  version: v0.12.0\ngo: %s\ntargets:\n", bed.Golang()) + fmt.Sprintf(format, args...)
}

// way is one way of building a list, as a user runs it.
type way struct {
	name string
	run  func(t *testing.T, in wayInput) wayResult
}

// wayInput is what a way is given.
type wayInput struct {
	bed      *testbed.Bed
	repo     string // the copy of the repository; bake runs at its root
	list     string // the target list, a file named targets.yaml
	out      string // the output directory
	env      []string
	platform string // bake only: --set binaries.platform
}

// wayResult is what a way did.
type wayResult struct {
	code int
	log  string
}

var ways = []way{
	{"build", func(t *testing.T, in wayInput) wayResult {
		cmd := llbgenCmd(t, in.bed.Addr, "build", "-f", "targets.yaml", "--out", in.out, "--progress", "plain")
		cmd.Dir = filepath.Dir(in.list)
		cmd.Env = append(cmd.Env, in.env...)
		r := runCmd(t, cmd)
		return wayResult{r.code, r.stderr}
	}},
	{"pipe", func(t *testing.T, in wayInput) wayResult {
		r := runPipe(t, in.bed.Buildctl, in.bed.Addr, filepath.Dir(in.list), in.out, in.env, "-f", "targets.yaml")
		if r.llbgen != 0 && r.buildctl == 0 {
			// A failing llbgen writes nothing on stdout, so the build fails too.
			t.Errorf("llbgen exited %d, yet buildctl built what it wrote", r.llbgen)
		}
		return wayResult{r.code, r.log}
	}},
	{"bake", func(t *testing.T, in wayInput) wayResult {
		x := in.bed.RequireBuildx(t) // without buildx, only this way skips
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		env := append([]string{"OUT=" + in.out}, in.env...)
		if in.list != filepath.Join(in.repo, "targets.yaml") {
			env = append(env, "TARGETS_FILE="+in.list) // bake's default is the repository's
		}
		// The list and the output directory are outside the directory bake
		// runs in, which buildx allows only when told.
		args := []string{"--allow=fs.read=" + filepath.Dir(in.list), "--allow=fs.write=" + in.out}
		if in.platform != "" {
			// The frontend itself runs on the builder's platform.
			args = append(args, "--set", "frontend.platform=linux/amd64", "--set", "binaries.platform="+in.platform)
		}
		log, err := x.Bake(ctx, in.repo, env, args...)
		return wayResult{waitCode(t, err), log}
	}},
}

// prepared is a scenario's input on disk.
type prepared struct {
	list, bakeList string
	// A locked scenario's builds must print these lines (each image by its
	// digest, the module check) and give their files this time.
	lockLines [][]string
	lockTime  time.Time
}

// prepare writes the scenario's lists into dir (outside the repository,
// whose every file is in the context the frontend image is built from) and
// locks them. It runs before any bake, so that the frontend is built once.
func (s scenario) prepare(t *testing.T, bed *testbed.Bed, repo, dir string) prepared {
	t.Helper()
	write := func(name, body string) string {
		path := filepath.Join(dir, name, "targets.yaml")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, path, body)
		return path
	}
	var p prepared
	if s.repoList {
		p.list = filepath.Join(repo, "targets.yaml")
	} else {
		p.list = write(s.name, s.list)
	}
	p.bakeList = p.list
	if s.bake != nil {
		p.bakeList = write(s.name+"-bake", s.bake.list)
	}
	if s.lock {
		p.lockLines, p.lockTime = lockList(t, bed, p.list)
	}
	return p
}

// run runs every way on the scenario's lists and then holds the ways to
// each other.
func (s scenario) run(t *testing.T, bed *testbed.Bed, repo string, p prepared) {
	done := map[string]map[string]file{}
	logs := map[string]string{}
	for _, w := range ways {
		want, ok := s.want[w.name]
		if !ok {
			t.Fatalf("scenario %s says nothing of %s", s.name, w.name)
		}
		want.lines = append(slices.Clone(want.lines), p.lockLines...)
		if !p.lockTime.IsZero() {
			want.mtime = p.lockTime
		}
		t.Run(w.name, func(t *testing.T) {
			in := wayInput{bed: bed, repo: repo, list: p.list, out: t.TempDir(), env: s.env}
			if w.name == "bake" && s.bake != nil {
				in.list, in.platform = p.bakeList, s.bake.platform
			}
			for name, body := range s.seed {
				writeFile(t, filepath.Join(in.out, name), body)
			}
			r := w.run(t, in)
			logs[w.name] = r.log
			files := s.check(t, in, want, r)
			if r.code == 0 && !t.Failed() {
				done[w.name] = files
			}
		})
	}
	t.Run("same", func(t *testing.T) { s.same(t, done, logs) })
}

// lockList runs `llbgen lock` on list and returns what every locked build
// must print (each image by its digest, the module check) and the time its
// files must carry.
func lockList(t *testing.T, bed *testbed.Bed, list string) ([][]string, time.Time) {
	t.Helper()
	cmd := llbgenCmd(t, bed.Addr, "lock", "-f", "targets.yaml", "--progress", "quiet")
	cmd.Dir = filepath.Dir(list)
	if r := runCmd(t, cmd); r.code != 0 {
		t.Fatalf("llbgen lock: exit %d\n%s", r.code, tail(r.stderr, 20))
	}
	lk, err := lock.Read(lock.Path(list))
	if err != nil {
		t.Fatal(err)
	}
	if len(lk.Images) == 0 {
		t.Fatalf("the lock pins no image: %+v", lk)
	}
	lines := [][]string{{"the helper module against the lock"}}
	for ref, d := range lk.Images {
		named, err := reference.ParseNormalizedNamed(ref)
		if err != nil {
			t.Fatalf("the lock's image %s: %v", ref, err)
		}
		lines = append(lines, []string{reference.TrimNamed(named).String() + "@" + d})
	}
	when, err := time.Parse(time.RFC3339, lk.Helper.Time)
	if err != nil {
		t.Fatalf("the lock's helper time %q: %v", lk.Helper.Time, err)
	}
	return lines, when
}

// file is one file of an output directory.
type file struct {
	data    string
	modTime time.Time
}

// check holds one way's run to want, and returns the files it wrote.
func (s scenario) check(t *testing.T, in wayInput, want expect, r wayResult) map[string]file {
	t.Helper()
	if r.code != want.code {
		t.Errorf("exit %d, want %d\n%s", r.code, want.code, tail(r.log, 30))
	}
	for _, words := range want.lines {
		if !hasLineWith(r.log, words) {
			t.Errorf("no line of the log has all of %q:\n%s", words, tail(r.log, 30))
		}
	}
	for _, words := range want.absent {
		if hasLineWith(r.log, []string{words}) {
			t.Errorf("a line of the log has %q:\n%s", words, tail(r.log, 30))
		}
	}
	if l := want.listLine; l != nil {
		// BuildKit's way (errdefs.Source.Print): the file and the first
		// line, then the lines numbered, the failing ones marked >>>.
		t.Run("shows the list's lines", func(t *testing.T) {
			heading := fmt.Sprintf("targets.yaml:%d", l.n)
			if !slices.Contains(strings.Split(r.log, "\n"), heading) {
				t.Errorf("the log has no line %q over the list's lines:\n%s", heading, tail(r.log, 30))
			}
			if !hasLineWith(r.log, []string{fmt.Sprintf("%d | >>> %s", l.n, l.text)}) {
				t.Errorf("the log does not show line %d of the list, %q, marked >>>:\n%s", l.n, l.text, tail(r.log, 30))
			}
		})
	}

	got := readDir(t, in.out)
	written := map[string]file{}
	for name, f := range got {
		if old, ok := s.seed[name]; !ok || old != f.data {
			written[name] = f
		}
	}
	for name := range s.seed {
		if _, ok := got[name]; !ok {
			t.Errorf("%s was in the output directory before and is gone", name)
		}
	}
	if want.binaries == nil {
		if len(written) > 0 {
			t.Errorf("wrote %q into the output directory, want nothing", slices.Sorted(maps.Keys(written)))
		}
		return written
	}

	var wantFiles []string
	for name := range want.binaries {
		f := targets.BinaryPrefix + name
		wantFiles = append(wantFiles, f, f+graph.BuildInfoSuffix)
	}
	wantFiles = append(wantFiles, "SHA256SUMS")
	slices.Sort(wantFiles)
	if got := slices.Sorted(maps.Keys(written)); !slices.Equal(got, wantFiles) {
		t.Errorf("wrote %q, want %q", got, wantFiles)
	}
	sums := want.sums
	if sums == nil {
		sums = slices.Sorted(maps.Keys(want.binaries))
	}
	var sumFiles []string
	for _, name := range sums {
		sumFiles = append(sumFiles, targets.BinaryPrefix+name)
	}
	assertSumsList(t, in.out, sumFiles...)
	assertNoStaging(t, in.out)
	if !want.mtime.IsZero() {
		t.Run("file times", func(t *testing.T) {
			for name, f := range written {
				if !f.modTime.Equal(want.mtime) {
					t.Errorf("%s: time %v, want %v", name, f.modTime, want.mtime)
				}
			}
		})
	}
	for name, b := range want.binaries {
		path := filepath.Join(in.out, targets.BinaryPrefix+name)
		if _, ok := written[filepath.Base(path)]; !ok {
			continue
		}
		machine, interp, _ := elfOf(t, path)
		if machine != b.machine || interp != b.interp {
			t.Errorf("%s: machine %v, interpreter %q; want a %v binary, interpreter %q", name, machine, interp, b.machine, b.interp)
		}
		out, status := in.bed.RunInImage(context.Background(), t, b.image, path)
		if status != "0" || !strings.HasSuffix(strings.TrimSpace(out), " 0.12.0") {
			t.Errorf("%s in %s: exit %s, printed %q; want exit 0 and version 0.12.0", name, b.image, status, out)
		}
	}
	return written
}

// same holds the ways that succeeded to each other: they wrote the same
// files, byte for byte and with the same times; and every way prints the
// same line from sameFrom on.
func (s scenario) same(t *testing.T, done map[string]map[string]file, logs map[string]string) {
	names := slices.Sorted(maps.Keys(done))
	if s.sameFrom != "" {
		names = slices.Sorted(maps.Keys(logs))
	}
	if len(names) < 2 {
		t.Skipf("fewer than two ways to compare (%q ran and succeeded)", names)
	}
	if s.sameFrom != "" {
		first := lineFrom(logs[names[0]], s.sameFrom)
		if first == "" {
			t.Fatalf("%s prints no %q", names[0], s.sameFrom)
		}
		for _, n := range names[1:] {
			if got := lineFrom(logs[n], s.sameFrom); got != first {
				t.Errorf("%s says %q, %s says %q", names[0], first, n, got)
			}
		}
		return
	}
	ref := done[names[0]]
	for _, n := range names[1:] {
		if a, b := slices.Sorted(maps.Keys(ref)), slices.Sorted(maps.Keys(done[n])); !slices.Equal(a, b) {
			t.Errorf("%s wrote %q, %s wrote %q", names[0], a, n, b)
		}
		for name, f := range done[n] {
			r, ok := ref[name]
			switch {
			case !ok:
			case r.data != f.data:
				t.Errorf("%s: %s and %s wrote different bytes", name, names[0], n)
			case !r.modTime.Equal(f.modTime):
				t.Errorf("%s: %s gave it the time %v, %s %v", name, names[0], r.modTime, n, f.modTime)
			}
		}
	}
}

// readDir reads every file of dir.
func readDir(t *testing.T, dir string) map[string]file {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]file{}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = file{data: readFile(t, filepath.Join(dir, e.Name())), modTime: fi.ModTime()}
	}
	return files
}

// hasLineWith reports whether one line of log holds all of words.
func hasLineWith(log string, words []string) bool {
	for _, l := range strings.Split(log, "\n") {
		if !slices.ContainsFunc(words, func(w string) bool { return !strings.Contains(l, w) }) {
			return true
		}
	}
	return false
}

// lineFrom is the first line of log holding from, from there to its end.
func lineFrom(log, from string) string {
	for _, l := range strings.Split(log, "\n") {
		if i := strings.Index(l, from); i >= 0 {
			return strings.TrimSpace(l[i:])
		}
	}
	return ""
}
