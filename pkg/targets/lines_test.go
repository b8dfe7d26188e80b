package targets

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// Each target, helper: and go: know the lines they are written on, first
// to last, whatever the style, so a failing stage can show them.
func TestLines(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		helper  Lines
		goLines Lines
		targets []Lines
	}{
		{
			name: "block style, comments and blank lines between",
			yaml: `# a list
helper:
  version: v0.12.0   # pinned

go: golang:1.26
targets:
  - image: docker:19.03.12            # 7
  # about the next one
  - image: gitlab/gitlab-runner:v13.2.1
    name: runner-cgo
    cgo: true

    setup:
      - apt-get update
  -
    image: alpine:3.12                # 16
    platforms: [linux/amd64,
                linux/arm64]
# trailing comment
...
`,
			helper:  Lines{2, 3},
			goLines: Lines{5, 5},
			targets: []Lines{{7, 7}, {9, 14}, {15, 18}},
		},
		{
			name:    "one line of flow style",
			yaml:    `{helper: {version: v0.12.0}, targets: [{image: a}, {image: b}]}`,
			helper:  Lines{1, 1},
			targets: []Lines{{1, 1}, {1, 1}},
		},
		{
			name: "flow style over lines",
			yaml: `{helper: {version: v0.12.0},
 go: golang:1.26,
 targets: [
   {image: a},
   {image: b,
    name: bee}]}
`,
			helper:  Lines{1, 1},
			goLines: Lines{2, 2},
			targets: []Lines{{4, 4}, {5, 6}},
		},
		{
			name: "targets first, a block scalar last",
			yaml: `targets:
  - image: a
    cgo: true
    setup:
      - |
        apt-get update
        apt-get install -y gcc

  - image: b
helper:
  version: v0.12.0
`,
			helper:  Lines{10, 11},
			targets: []Lines{{2, 7}, {9, 9}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Parse(file, []byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(l.Source, []byte(tt.yaml)) {
				t.Errorf("Source is not the file's bytes")
			}
			if l.Helpers[0].Lines != tt.helper {
				t.Errorf("helper at %v, want %v", l.Helpers[0].Lines, tt.helper)
			}
			if l.GoLines != tt.goLines {
				t.Errorf("go at %v, want %v", l.GoLines, tt.goLines)
			}
			if len(l.Targets) != len(tt.targets) {
				t.Fatalf("%d targets, want %d", len(l.Targets), len(tt.targets))
			}
			for i, tg := range l.Targets {
				if tg.Lines != tt.targets[i] {
					t.Errorf("target %d (%s) at %v, want %v", i, tg.Name, tg.Lines, tt.targets[i])
				}
			}
		})
	}
}

// Lines are counted as YAML counts them, whatever ends them: CR LF, CR
// alone (the fuzzer's "targets:\n-\r\r0:" indexed past the last line),
// NEL, LS or PS.
func TestLinesEnds(t *testing.T) {
	src := "helper:\n  version: v0.12.0\n\ntargets:\n  - image: a\n  -\n\n    image: b\npublish:\n  images: r.example.com/{name}\n# end\n"
	want := []Lines{{1, 2}, {5, 5}, {6, 8}, {9, 10}}
	for _, end := range []string{"\r\n", "\r", "\u0085", "\u2028", "\u2029"} {
		data := strings.ReplaceAll(src, "\n", end)
		l, err := Parse(file, []byte(data))
		if err != nil {
			t.Fatalf("%q: %v", end, err)
		}
		got := []Lines{l.Helpers[0].Lines, l.Targets[0].Lines, l.Targets[1].Lines, l.Publish.Lines}
		if !slices.Equal(got, want) || len(splitLines([]byte(data))) != 11 {
			t.Errorf("lines ended by %q: %v, want %v; %d lines", end, got, want, len(splitLines([]byte(data))))
		}
	}
	if _, err := Parse(file, []byte("targets:\n-\r\r0:")); err == nil {
		t.Error("accepted a list without helper")
	}
}

// A list made from --image flags has no file to show.
func TestLinesFromImages(t *testing.T) {
	base, err := Parse(file, []byte("helper: {version: v0.12.0}\ntargets: [{image: a}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []*List{nil, base} {
		l, err := FromImages(b, []ImageArg{{Image: "alpine"}})
		if err != nil {
			t.Fatal(err)
		}
		if l.Source != nil || !l.Targets[0].Lines.IsZero() {
			t.Errorf("an --image list has Source %q, target lines %v", l.Source, l.Targets[0].Lines)
		}
	}
}

// A version set by a flag is not the one the file's helper: line shows.
func TestSetHelperVersionDropsLines(t *testing.T) {
	l, err := Parse(file, []byte("helper: {version: v0.12.0}\ntargets: [{image: a}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if l.Helpers[0].Lines.IsZero() {
		t.Fatal("no helper lines")
	}
	if err := l.SetHelperVersion("v0.11.0", "--helper-version"); err != nil {
		t.Fatal(err)
	}
	if !l.Helpers[0].Lines.IsZero() {
		t.Errorf("helper lines %v after --helper-version", l.Helpers[0].Lines)
	}
}

func TestLinesString(t *testing.T) {
	if got := (Lines{3, 3}).String(); got != "3" {
		t.Errorf("got %q", got)
	}
	if got := (Lines{3, 5}).String(); got != "3-5" {
		t.Errorf("got %q", got)
	}
}

// GoKey is where the go: key itself is written, however it is written:
// the key node's position, not a guess from the line's text.
func TestGoKey(t *testing.T) {
	for src, want := range map[string]Pos{
		"helper: {version: v0.12.0}\ngo: golang:1.26\ntargets: [{image: a}]\n":                        {file, 2, 1},
		"helper: {version: v0.12.0}\n\"go\" : golang:1.26\ntargets: [{image: a}]\n":                   {file, 2, 1},
		"{helper: {version: v0.12.0}, go: golang:1.26, targets: [{image: a}]}\n":                      {file, 1, 30},
		"{helper: {version: v0.12.0},\n  targets: [{image: a}], 'go': golang:1.26}\n":                 {file, 2, 26},
		"helper: {version: v0.12.0}\ngo:\n  golang:1.26\ntargets: [{image: a}]\n":                     {file, 2, 1},
		"helper: {version: v0.12.0}\n? go\n: golang:1.26\ntargets: [{image: a}]\n":                    {file, 2, 3},
		"helper: {version: v0.12.0}\ntargets: [{image: a}]\n# go: golang:1.26 is the default\n":       {},
		"helper: {version: v0.12.0}\ntargets: [{image: a, name: go}]\ngo: golang:1.25 # go: pinned\n": {file, 3, 1},
	} {
		l, err := Parse(file, []byte(src))
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		if l.GoKey != want {
			t.Errorf("%q: go key at %v, want %v", src, l.GoKey, want)
		}
		if l.GoKey.Line != l.GoLines.First {
			t.Errorf("%q: go key on line %d, its lines %v", src, l.GoKey.Line, l.GoLines)
		}
	}
}
