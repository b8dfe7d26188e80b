package targets

import (
	"errors"
	"flag"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// FuzzParse checks that any input either parses into a usable list or is
// refused with positioned, one-line messages, within maxParseTime and
// maxParseAlloc; never a panic.
func FuzzParse(f *testing.F) {
	platforms := "[" + strings.Repeat("linux/amd64, ", 999) + "linux/amd64]"
	steps := "[" + strings.Repeat("apt-get install -y gcc, ", 99) + "apt-get update]"
	// Go's fuzzer slows to a few inputs a second once its corpus holds
	// inputs of a few KB, so the large seeds (and corpus files) run only as
	// tests; TestLimits has the same attacks.
	fuzzing := flag.Lookup("test.fuzz").Value.String() != ""
	for _, seed := range []string{
		// The attacks of TestLimits: aliased platforms and setup, a huge
		// tag, many targets, many refusals.
		targetsOf(1000, func(i int) string {
			if i == 0 {
				return "  - {image: a:0, platforms: &p " + platforms + "}\n"
			}
			return fmt.Sprintf("  - {image: a:%d, platforms: *p}\n", i)
		}),
		targetsOf(100, func(i int) string {
			if i == 0 {
				return "  - {image: a:0, cgo: true, setup: &s " + steps + "}\n"
			}
			return fmt.Sprintf("  - {image: a:%d, cgo: true, setup: *s}\n", i)
		}),
		valid + "  - image: docker:" + strings.Repeat("1", 2000) + "\n",
		targetsOf(MaxTargets+1, func(i int) string { return fmt.Sprintf("  - image: a:%d\n", i) }),
		targetsOf(MaxTargets, func(i int) string { return fmt.Sprintf("  - image: Bad:%d\n", i) }),
		laughs(),
		// Compact ones the fuzzer can grow from.
		"a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nhelper: {version: v0.12.0}\ntargets: *e\n",
		valid + "  - {image: a, platforms: &p [linux/amd64, linux/arm64]}\n  - {image: b, platforms: *p}\n",
		valid + "  - {image: a, cgo: true, setup: &s [apt-get update, apt-get install -y gcc]}\n  - {image: b, cgo: true, setup: *s}\n",
		valid + "  - image: docker:1\n    name: A\n  - image: docker:2\n    name: a\n",
		valid + "  - {image: a, name: A, platforms: [linux/amd64, linux/arm64]}\n  - {image: b, name: a-linux-ARM64}\n",
		"",
		valid + "  - image: docker:19.03.12\n  - image: gitlab/gitlab-runner:v13.2.1\n    name: runner\n",
		"helper: {version: v0.12.0}\ngo: golang:1.26\ntargets: [{image: alpine, name: a}]\n",
		valid + "  - image: docker:1\n    foo: bar\n",
		"helper: [\n",
		valid + "  - &t {image: docker:1}\n  - *t\n",
		"a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\ntargets: *c\n",
		"[[[[[[[[[[{{{{{{{{]]]]]]]]]]",
		"---\n...\n---\n",
		"helper: {version: 1.0}\ntargets: {image: 1}\n",
		valid + "  - image: docker:1\n  - {image: gitlab/gitlab-runner:v13.2.1, name: R}\npublish: {images: \"r.io/ci/{repo}:{tag}-{name}\", helpers: \"r.io/h:{version}\", credHelpers: [public.ecr.aws, \"localhost:5000\"]}\n",
		valid + "  - image: a@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\npublish: {images: \"{repo}:{tag}\", helpers: \"{repo}\"}\n",
		valid + "  - image: docker:1\n  - image: docker:2\npublish:\n  images: r.io/x\n  credHelpers: [a, a, \"https://b\"]\n",
	} {
		if fuzzing && len(seed) > 512 {
			continue
		}
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Past 512 bytes new coverage is only the YAML reader refilling its
		// buffer, and minimizing such inputs stalls the fuzzer for a minute
		// each; large inputs have their own tests (TestLimits, deep nesting).
		if fuzzing && len(data) > 512 {
			t.Skip()
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		l, err := Parse(file, data)
		took := time.Since(start)
		runtime.ReadMemStats(&after)
		if took > maxParseTime {
			t.Errorf("Parse took %v, want < %v", took, maxParseTime)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > maxParseAlloc {
			t.Errorf("Parse allocated %d MB, want < %d MB", alloc>>20, maxParseAlloc>>20)
		}
		if err == nil {
			checkList(t, l)
			return
		}
		var errs ErrorList
		var one *Error
		switch {
		case errors.As(err, &errs):
		case errors.As(err, &one):
			errs = ErrorList{one}
		default:
			t.Fatalf("got %T %v, want ErrorList", err, err)
		}
		if len(errs) == 0 {
			t.Fatal("empty ErrorList returned as an error")
		}
		if printed := strings.Count(err.Error(), "\n") + 1; printed > MaxErrors+1 {
			t.Errorf("%d refusals print %d lines, want at most %d", len(errs), printed, MaxErrors+1)
		}
		for i, e := range errs {
			p := e.Pos
			if p.File != file || p.Line < 1 || p.Col < 1 {
				t.Errorf("refusal %d has position %+v", i, p)
			}
			if prefix := fmt.Sprintf("%s:%d:%d: ", file, p.Line, p.Col); !strings.HasPrefix(e.Error(), prefix) {
				t.Errorf("refusal %d %q does not start with %q", i, e.Error(), prefix)
			}
			if e.Msg == "" || strings.Contains(e.Msg, "\n") {
				t.Errorf("refusal %d message %q is empty or spans lines", i, e.Msg)
			}
			if len(e.Msg) > 1000 {
				t.Errorf("refusal %d is %d bytes: %.300s", i, len(e.Msg), e.Msg)
			}
			if i > 0 && (p.Line < errs[i-1].Pos.Line || p.Line == errs[i-1].Pos.Line && p.Col < errs[i-1].Pos.Col) {
				t.Errorf("refusals %d and %d are out of order", i-1, i)
			}
		}
	})
}

// checkList asserts what every accepted list promises.
func checkList(t *testing.T, l *List) {
	t.Helper()
	if l.File != file || !fullSemver(l.Helpers[0].Version) || l.Go.Full == "" || len(l.Targets) == 0 {
		t.Fatalf("accepted a list without file, version, go or targets: %+v", l)
	}
	if len(l.Targets) > MaxTargets || len(l.Binaries()) > MaxBinaries || len(l.Go.Ref) > MaxImageRefBytes || len(l.Helpers[0].Version) > MaxValueBytes {
		t.Errorf("accepted a list past a limit: %d targets, %d binaries, go %d bytes, version %d bytes",
			len(l.Targets), len(l.Binaries()), len(l.Go.Ref), len(l.Helpers[0].Version))
	}
	lines := len(splitLines(l.Source))
	inFile := func(ls Lines, at int) bool {
		return 1 <= ls.First && ls.First <= at && at <= ls.Last && ls.Last <= lines
	}
	if !inFile(l.Helpers[0].Lines, l.Helpers[0].Pos.Line) || !l.GoLines.IsZero() && !inFile(l.GoLines, l.Go.Pos.Line) ||
		!l.Publish.Lines.IsZero() && !inFile(l.Publish.Lines, l.Publish.Lines.First) {
		t.Errorf("helper at %v (version on %d), go at %v (value on %d), in a file of %d lines", l.Helpers[0].Lines, l.Helpers[0].Pos.Line, l.GoLines, l.Go.Pos.Line, lines)
	}
	seen := map[string]bool{}
	for _, tg := range l.Targets {
		if !inFile(tg.Lines, tg.Pos.Line) {
			t.Errorf("target %q at %v, its item on line %d, in a file of %d lines", tg.Name, tg.Lines, tg.Pos.Line, lines)
		}
		if !ValidName(tg.Name) || seen[strings.ToLower(tg.Name)] {
			t.Errorf("accepted bad or repeated name %q", tg.Name)
		}
		seen[strings.ToLower(tg.Name)] = true
		if len(tg.Image.Ref) > MaxImageRefBytes || len(tg.Setup) > MaxSetupSteps {
			t.Errorf("accepted target %q past a limit: image %d bytes, %d setup steps", tg.Name, len(tg.Image.Ref), len(tg.Setup))
		}
		for _, c := range tg.Setup {
			if len(c) > MaxSetupBytes {
				t.Errorf("accepted a setup command of %d bytes", len(c))
			}
		}
	}
	files, steps := map[string]bool{}, 0
	for _, b := range l.Binaries() {
		if !ValidName(b.Name) || len(b.FileName()) > 255 || files[strings.ToLower(b.Name)] {
			t.Errorf("accepted bad, long or repeated file %q", b.FileName())
		}
		files[strings.ToLower(b.Name)] = true
		steps += len(b.Target.Setup)
		if len(b.Target.Setup) > 0 && !b.Target.Cgo {
			t.Errorf("accepted setup without cgo in %q", b.Name)
		}
		if tg := b.Target; tg.Image.Full == "" || tg.Pos.Line < 1 {
			t.Errorf("accepted target without a full reference or position: %+v", tg)
		}
	}
	if steps > MaxSetupStepsTotal {
		t.Errorf("accepted %d setup steps in all", steps)
	}
	checkPublished(t, l)
}

// checkPublished asserts what an accepted publish block promises: every
// name renders, as a tagged reference; no two targets, nor the helpers
// image, share one; credHelpers only with images, each once.
func checkPublished(t *testing.T, l *List) {
	t.Helper()
	p := l.Publish
	if p.Lines.IsZero() != (p.Images == "" && p.Helpers == "") || p.Images == "" && len(p.CredHelpers) > 0 {
		t.Fatalf("accepted publish %+v", p)
	}
	names := map[string]string{}
	for _, tg := range l.Targets {
		name, err := l.JobImageName(tg)
		if err != nil || (p.Images != "") != (name != "") {
			t.Fatalf("accepted images %q: JobImageName(%s) = %q, %v", p.Images, tg.Name, name, err)
		}
		if name == "" {
			continue
		}
		if other, ok := names[name]; ok {
			t.Errorf("targets %s and %s both publish %s", other, tg.Name, name)
		}
		names[name] = tg.Name
		if _, err := normalize(name); err != nil || !strings.Contains(name[strings.LastIndex(name, "/"):], ":") || strings.Contains(name, "@") {
			t.Errorf("accepted job image name %q: %v", name, err)
		}
	}
	helpers, err := l.HelpersImageName()
	if err != nil || (p.Helpers != "") != (helpers != "") || names[helpers] != "" {
		t.Errorf("accepted helpers %q: %q, %v", p.Helpers, helpers, err)
	}
	seen := map[string]bool{}
	for _, h := range p.CredHelpers {
		if seen[h] || !hostOnly.MatchString(h) {
			t.Errorf("accepted credHelpers %q", p.CredHelpers)
		}
		seen[h] = true
	}
}
