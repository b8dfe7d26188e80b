package targets

import (
	_ "crypto/sha512" // for go-digest, as BuildKit links it
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Bounds every input must be read or refused within.
const (
	maxParseTime  = time.Second
	maxParseAlloc = 100 << 20
)

// parseBounded parses data and fails t when that takes too long or
// allocates too much.
func parseBounded(t *testing.T, data []byte) (*List, error) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	l, err := Parse(file, data)
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	t.Logf("%d bytes: %v, %d KB allocated", len(data), took.Round(time.Millisecond), (after.TotalAlloc-before.TotalAlloc)>>10)
	if took > maxParseTime {
		t.Errorf("Parse of %d bytes took %v, want < %v", len(data), took, maxParseTime)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > maxParseAlloc {
		t.Errorf("Parse of %d bytes allocated %d MB, want < %d MB", len(data), alloc>>20, maxParseAlloc>>20)
	}
	return l, err
}

// refusals parses data within the bounds and returns its refusals.
func refusals(t *testing.T, data []byte) ErrorList {
	t.Helper()
	l, err := parseBounded(t, data)
	if err == nil {
		t.Fatalf("Parse accepted it: %d targets", len(l.Targets))
	}
	var errs ErrorList
	if !errors.As(err, &errs) {
		t.Fatalf("got %T %v, want ErrorList", err, err)
	}
	if printed := err.Error(); len(printed) > 8<<10 {
		t.Errorf("the refusal prints %d bytes, want a few lines: %.300s", len(printed), printed)
	}
	return errs
}

// targetsOf is a list of n targets, each made by item from its index.
func targetsOf(n int, item func(i int) string) string {
	var b strings.Builder
	b.WriteString(valid)
	for i := range n {
		b.WriteString(item(i))
	}
	return b.String()
}

// lineOf is the 1-based line of data that contains s first.
func lineOf(data, s string) int {
	return strings.Count(data[:strings.Index(data, s)], "\n") + 1
}

// Every limit refuses its attack with one positioned refusal that says the
// limit and what to do, within the time and memory bounds.
func TestLimits(t *testing.T) {
	thousandPlatforms := "[" + strings.Repeat("linux/amd64, ", 999) + "linux/amd64]"
	setupSteps := func(n int) string {
		return "[" + strings.Repeat("apt-get install -y gcc, ", n-1) + "apt-get install -y gcc]"
	}
	hugeTag := func(n int) string { return "docker:" + strings.Repeat("1", n) }
	tests := []struct {
		name string
		yaml string
		want string // "LINE:COL phrase"; LINE may be a regexp group
	}{
		{"file over the limit (a 5 MB tag)", valid + "  - image: " + hugeTag(5<<20) + "\n",
			"1:1 the file is more than 524288 bytes (512 KiB), the most a target list may have; check that this is the target list, or split it into several"},
		{"file one byte over", valid + "  - image: docker:1\n" + strings.Repeat("#", MaxFileBytes),
			"1:1 the file is more than 524288 bytes"},
		{"1,000 targets alias 1,000 platforms",
			targetsOf(1000, func(i int) string {
				if i == 0 {
					return "  - {image: a:0, platforms: &p " + thousandPlatforms + "}\n"
				}
				return fmt.Sprintf("  - {image: a:%d, platforms: *p}\n", i)
			}),
			"53:30 the alias *p takes the list past 50000 YAML values (keys, values and list entries, each alias counted as all it repeats); write the values out, or alias less"},
		{"billion laughs under targets", laughs(),
			"5:20 the alias *a3 takes the list past 50000 YAML values"},
		{"a dense list as large as a file may be", valid + "  - image: docker:1\n    foo: [" + strings.Repeat("a,", (MaxFileBytes-100)/2) + "a]\n",
			"5:\\d+ the list has more than 50000 YAML values (keys, values and list entries) by here; a list of 1000 targets needs far fewer, so check the file or split it into several"},
		{"too many targets", targetsOf(MaxTargets+1, func(i int) string { return fmt.Sprintf("  - image: a:%d\n", i) }),
			"3:1 targets has 1001 entries, more than the 1000 a list may have; split it into several lists"},
		{"too many binaries", targetsOf(1000, func(i int) string {
			if i == 0 {
				return "  - {image: a:0, platforms: &p [linux/amd64, linux/arm64, linux/386, linux/riscv64, linux/s390x]}\n"
			}
			return fmt.Sprintf("  - {image: a:%d, platforms: *p}\n", i)
		}),
			"804:5 targets[800] takes the list past 4000 binaries (one per target, helper and platform); build fewer platforms or helpers, or split the list into several"},
		{"an 11 KB list of aliased setup steps", targetsOf(100, func(i int) string {
			if i == 0 {
				return "  - {image: a:0, cgo: true, setup: &s " + setupSteps(100) + "}\n"
			}
			return fmt.Sprintf("  - {image: a:%d, cgo: true, setup: *s}\n", i)
		}),
			"44:37 targets[40].setup takes the list past 4000 setup steps in all (each target's counted once per platform it is built for); use fewer steps or platforms, or split the list into several"},
		{"setup steps counted per platform", targetsOf(20, func(i int) string {
			if i == 0 {
				return "  - {image: a:0, cgo: true, setup: &s " + setupSteps(100) + ", platforms: [linux/amd64, linux/arm64, linux/386]}\n"
			}
			return fmt.Sprintf("  - {image: a:%d, cgo: true, setup: *s, platforms: [linux/amd64, linux/arm64, linux/386]}\n", i)
		}),
			"17:37 targets[13].setup takes the list past 4000 setup steps"},
		{"too many setup steps in a target", valid + "  - image: docker:1\n    cgo: true\n    setup: " + setupSteps(MaxSetupSteps+1) + "\n",
			"6:12 targets[0].setup has 101 steps, more than the 100 a target may have; join commands with && or install with fewer"},
		{"long setup command", valid + "  - image: docker:1\n    cgo: true\n    setup: [" + strings.Repeat("x", MaxSetupBytes+1) + "]\n",
			`6:13 targets[0].setup[0] is 4097 bytes, more than the 4096 allowed: "` + strings.Repeat("x", 60) + `…" (4097 bytes); split it into several setup steps`},
		{"a 400 KB tag", valid + "  - image: " + hugeTag(400<<10) + "\n",
			`4:12 targets[0].image is 409607 bytes, more than the 1024 allowed: "` + hugeTag(400 << 10)[:60] + `…" (409607 bytes); no reference ` + "`docker pull`" + ` accepts is longer; check the value`},
		{"long go image", "go: " + hugeTag(1100) + "\n" + valid + "  - image: docker:1\n",
			"1:5 go is 1107 bytes, more than the 1024 allowed"},
		{"long name", valid + "  - image: docker:1\n    name: " + strings.Repeat("n", 300) + "\n",
			`5:11 targets[0].name is 300 bytes, more than the 255 allowed: "nnnn`},
		{"long version", "helper: {version: v1.0.0-" + strings.Repeat("r", 300) + "}\ntargets: [{image: a}]\n",
			"1:19 helper.version is 307 bytes, more than the 255 allowed: \"v1.0.0-rrr"},
		{"long platform", valid + "  - image: docker:1\n    platforms: [linux/" + strings.Repeat("a", 300) + "]\n",
			"5:17 targets[0].platforms[0] is 306 bytes, more than the 255 allowed"},
		{"long key", valid + "  - image: docker:1\n    ? " + strings.Repeat("k", 300<<10) + "\n    : 1\n",
			"5:7 a key in targets[0] is 307200 bytes, more than the 255 allowed: \"kkkk"},
		{"long number", valid + "  - image: " + strings.Repeat("1", 300<<10) + "\n",
			"4:12 targets[0].image is 307200 bytes, more than the 1024 allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := refusals(t, []byte(tt.yaml))
			at, phrase, _ := strings.Cut(tt.want, " ")
			re := regexp.MustCompile("^" + regexp.QuoteMeta(file) + ":" + at + ": ")
			if len(errs) != 1 || !re.MatchString(errs[0].Error()) || !strings.Contains(errs[0].Error(), phrase) {
				t.Fatalf("got %d refusals:\n%.2000s\nwant one: %s:%s: ...%s...", len(errs), errs, file, at, phrase)
			}
			if len(errs[0].Msg) > 400 {
				t.Errorf("the refusal is %d bytes: %.500s", len(errs[0].Msg), errs[0].Msg)
			}
		})
	}
}

// laughs is a "billion laughs" list: targets is 10^30 strings.
func laughs() string {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 30; i++ {
		b.WriteString("a" + strconv.Itoa(i) + ": &a" + strconv.Itoa(i) + " [")
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + strconv.Itoa(i-1))
		}
		b.WriteString("]\n")
	}
	b.WriteString("helper: {version: v0.12.0}\ntargets: *a29\n")
	return b.String()
}

// A list right at every limit is accepted, within the bounds.
func TestLimitsAllowFullList(t *testing.T) {
	// 1,000 targets on 4 platforms, half with 2 setup steps: 4,000 in all.
	plats := "&p [linux/amd64, linux/arm64, linux/arm/v7, linux/386]"
	data := targetsOf(MaxTargets, func(i int) string {
		switch {
		case i == 0:
			return "  - {image: a:0, cgo: true, setup: &s [apt-get update, apt-get install -y gcc], platforms: " + plats + "}\n"
		case i%2 == 0:
			return fmt.Sprintf("  - {image: registry.example.com/team/image:%d, cgo: true, setup: *s, platforms: *p}\n", i)
		default:
			return fmt.Sprintf("  - {image: registry.example.com/team/image:%d, platforms: *p}\n", i)
		}
	})
	l, err := parseBounded(t, []byte(data))
	if err != nil {
		t.Fatalf("%.2000v", err)
	}
	if n := len(l.Binaries()); n != MaxBinaries {
		t.Errorf("%d binaries, want %d", n, MaxBinaries)
	}
	long := valid + "  - image: docker:" + strings.Repeat("1", 128) + "\n    cgo: true\n    setup: [" + strings.Repeat("x", MaxSetupBytes) + "]\n"
	if _, err := parseBounded(t, []byte(long)); err != nil {
		t.Errorf("a 128-byte tag and a %d-byte setup command: %v", MaxSetupBytes, err)
	}
}

// The longest reference a registry can serve fits MaxImageRefBytes.
func TestMaxImageRefFitsLongestReference(t *testing.T) {
	host := strings.Repeat(strings.Repeat("h", 62)+".", 4) + "com" // 255 bytes; DNS allows 253
	path := strings.Repeat("p", 255)
	ref := host + ":65535/" + path + ":" + strings.Repeat("t", 128) + "@sha512:" + strings.Repeat("0", 128)
	if _, err := normalize(ref); err != nil {
		t.Fatalf("the longest reference: %v", err)
	}
	if len(ref) > MaxImageRefBytes {
		t.Errorf("the longest reference is %d bytes, more than MaxImageRefBytes %d", len(ref), MaxImageRefBytes)
	}
	if _, err := normalize(host + "/" + path + "p:1"); err == nil {
		t.Error("distribution/reference accepts a 256-byte path; the reasoning behind MaxImageRefBytes no longer holds")
	}
}

// An --image flag is bounded as a file's image is, and not echoed whole.
func TestFromImagesLongImage(t *testing.T) {
	_, err := FromImages(nil, []ImageArg{{Image: "docker:" + strings.Repeat("1", 5<<20)}, {Image: "a", Name: strings.Repeat("n", 5<<20)}})
	if err == nil {
		t.Fatal("accepted")
	}
	got := err.Error()
	for _, want := range []string{
		"--image:1:1: image is 5242887 bytes, more than the 1024 allowed: \"docker:111",
		"--image:2:1: target name \"nnnn",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("refusal %q does not contain %q", got, want)
		}
	}
	if len(got) > 1000 {
		t.Errorf("the refusal is %d bytes", len(got))
	}
}

// Many refusals print as MaxErrors lines and "and N more".
func TestErrorListPrintsAtMostMaxErrors(t *testing.T) {
	data := targetsOf(MaxTargets, func(i int) string { return fmt.Sprintf("  - image: Bad:%d\n", i) })
	errs := refusals(t, []byte(data))
	if len(errs) != MaxTargets {
		t.Fatalf("%d refusals, want %d", len(errs), MaxTargets)
	}
	lines := strings.Split(errs.Error(), "\n")
	if len(lines) != MaxErrors+1 || lines[MaxErrors] != "and 980 more" || !strings.HasPrefix(lines[0], file+":4:12: image \"Bad:0\"") {
		t.Errorf("printed %d lines, first %q, last %q; want %d, then \"and 980 more\"", len(lines), lines[0], lines[len(lines)-1], MaxErrors)
	}
	if got := errs[:MaxErrors].Error(); strings.Contains(got, "more") || strings.Count(got, "\n") != MaxErrors-1 {
		t.Errorf("%d refusals print %q", MaxErrors, got)
	}
}

func TestQuote(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"docker:1", `"docker:1"`},
		{strings.Repeat("a", 60), `"` + strings.Repeat("a", 60) + `"`},
		{strings.Repeat("a", 61), `"` + strings.Repeat("a", 60) + `…" (61 bytes)`},
		{strings.Repeat("a", 59) + "é" + "b", `"` + strings.Repeat("a", 59) + `…" (62 bytes)`}, // not inside a rune
		{"a\nb", `"a\nb"`},
	} {
		if got := Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%.70q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// Names and file names that differ only in case are one file on a
// case-insensitive volume; each refusal names both places.
func TestNamesDifferingOnlyInCase(t *testing.T) {
	for _, tt := range []struct{ name, yaml, want string }{
		{"explicit names", valid + "  - image: docker:1\n    name: Runner\n  - image: docker:2\n    name: runner\n",
			`7:11: target name "runner" differs from "Runner" (first at line 5) only in case, so both write one file on a case-insensitive volume (macOS, Windows); set ` + "`name:`" + ` on one of them`},
		{"derived names", valid + "  - image: docker:V1\n  - image: docker:v1\n",
			`5:12: target name "docker_v1" differs from "docker_V1" (first at line 4) only in case`},
		{"a platform's file", valid + "  - image: docker:1\n    name: A\n    platforms: [linux/amd64, linux/arm64]\n  - image: docker:2\n    name: a-linux-arm64\n",
			`6:30: target "A" on linux/arm64 writes docker-credential-ecr-login-A-linux-arm64, which differs only in case from docker-credential-ecr-login-a-linux-arm64 of target "a-linux-arm64" at line 7`},
		{"build information in capitals", valid + "  - image: docker:1\n    name: x.BuildInfo\n",
			`5:11: target name "x.BuildInfo" ends in .buildinfo (in any case)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			errs := refusals(t, []byte(tt.yaml))
			if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), file+":"+tt.want) {
				t.Errorf("got:\n%v\nwant %s:%s", errs, file, tt.want)
			}
		})
	}
	_, err := FromImages(nil, []ImageArg{{Image: "a", Name: "X"}, {Image: "b", Name: "x"}})
	if want := `--image:2:1: target name "x" differs from "X" (first from --image 1) only in case`; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("--image X, x: %v; want %s", err, want)
	}
}
