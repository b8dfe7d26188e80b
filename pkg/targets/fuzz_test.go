package targets

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// FuzzParse checks that any input either parses into a usable list or is
// refused with positioned, one-line messages; never a panic.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
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
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Past 512 bytes new coverage is only the YAML reader refilling its
		// buffer, and minimizing such inputs stalls the fuzzer for a minute
		// each; large inputs have their own tests (alias bomb, deep nesting).
		if len(data) > 512 {
			t.Skip()
		}
		l, err := Parse(file, data)
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
			if i > 0 && (p.Line < errs[i-1].Pos.Line || p.Line == errs[i-1].Pos.Line && p.Col < errs[i-1].Pos.Col) {
				t.Errorf("refusals %d and %d are out of order", i-1, i)
			}
		}
	})
}

// checkList asserts what every accepted list promises.
func checkList(t *testing.T, l *List) {
	t.Helper()
	if l.File != file || !fullSemver(l.Helper.Version) || l.Go.Full == "" || len(l.Targets) == 0 {
		t.Fatalf("accepted a list without file, version, go or targets: %+v", l)
	}
	seen := map[string]bool{}
	for _, tg := range l.Targets {
		if !ValidName(tg.Name) || seen[tg.Name] {
			t.Errorf("accepted bad or repeated name %q", tg.Name)
		}
		seen[tg.Name] = true
	}
	files := map[string]bool{}
	for _, b := range l.Binaries() {
		if !ValidName(b.Name) || len(b.FileName()) > 255 || files[b.Name] {
			t.Errorf("accepted bad, long or repeated file %q", b.FileName())
		}
		files[b.Name] = true
		if len(b.Target.Setup) > 0 && !b.Target.Cgo {
			t.Errorf("accepted setup without cgo in %q", b.Name)
		}
		if tg := b.Target; tg.Image.Full == "" || tg.Pos.Line < 1 {
			t.Errorf("accepted target without a full reference or position: %+v", tg)
		}
	}
}
