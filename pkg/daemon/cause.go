package daemon

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	digest "github.com/opencontainers/go-digest"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/plan"
	"github.com/llbgen/llbgen/pkg/targets"
)

// explanation is why a solve failed: its one-line cause and, when known,
// the vertex that failed it and that vertex's stage.
type explanation struct {
	vertex digest.Digest // "" when no stage of llbgen's is known to have failed
	stage  graph.Stage
	cause  string
}

// explain gives a failed solve its one-line cause and the vertex and stage
// that failed it, when that is known; otherwise the solve error's first
// line. Either way without BuildKit's internal words (scrub).
func (c *collector) explain(list *targets.List, solveErr error) explanation {
	if f, ok := c.culprit(solveErr); ok {
		x := explainerFor(list)
		// A lost layer is the image's failure, whichever stage found it:
		// its stage and vertex are the image's pull, so that every binary
		// of the image that met it is given one cause.
		if img, why := x.pullProblem(f); why != "" {
			return explanation{vertex: c.vertexOf(img), stage: img, cause: OneLine(scrub(why))}
		}
		return explanation{vertex: f.vertex, stage: f.stage, cause: OneLine(scrub(x.tell(f)))}
	}
	msg := innermost(solveErr).Error()
	if strings.Contains(msg, doubleRelease) {
		return explanation{cause: lostStep}
	}
	return explanation{cause: plan.FirstLine(scrub(msg))}
}

// doubleRelease is what BuildKit v0.34.2's gateway answers, in place of a
// failed exec's error, when it releases a snapshot twice (see sessions in
// run.go); lostStep is what a user is told then, when no step of the
// solve is known to have failed: the progress still shows the step.
const (
	doubleRelease = "releasing already released reference"
	lostStep      = "the daemon lost the error of the step that failed (a BuildKit bug: a reference released twice); the progress above shows the step"
)

// scrub takes BuildKit's internal words out of a cause: the ids of its
// cache references (WORKER::REF), with the "failed to calculate checksum
// of ref ID: " that introduces a missing path, mean nothing to a user.
func scrub(s string) string {
	s = checksumOfRef.ReplaceAllString(s, "")
	return refIDs.ReplaceAllString(s, "")
}

// checksumOfRef is how BuildKit says it could not find a path in a
// snapshot: the path and "not found" follow.
var checksumOfRef = regexp.MustCompile(`failed to calculate checksum of ref \S*: `)

// stageCause is the one-line cause of a failed solve when a stage of
// llbgen's is known to have failed it (`llbgen lock` reports its
// download's failure with it); ok is false otherwise.
func (c *collector) stageCause(list *targets.List, solveErr error) (cause string, ok bool) {
	e := c.explain(list, solveErr)
	return e.cause, e.stage.Kind != ""
}

// vertexOf is the vertex of stage s among the definitions solved, or ""
// (then failures of s are grouped by their cause alone).
func (c *collector) vertexOf(s graph.Stage) digest.Digest {
	c.mu.Lock()
	defer c.mu.Unlock()
	var found digest.Digest
	for d, known := range c.stages {
		if known.Kind == s.Kind && known.Image == s.Image && known.Platform == s.Platform && (found == "" || d < found) {
			found = d
		}
	}
	return found
}

// innermost is the daemon's error of a failed solve, without what llbgen
// wrapped around it ("solving NAME: ..."), or err when no solve failed.
func innermost(err error) error {
	var se *solveError
	if errors.As(err, &se) {
		return se.err
	}
	return err
}

// refIDs are BuildKit's ids of cache references (WORKER::REF), and the
// space before one.
var refIDs = regexp.MustCompile(`\s*\b[a-z0-9]{25}::[a-z0-9]{25}\b`)

// explainer tells the failures of one list's build.
type explainer struct {
	goRef  string // the go image, as the list writes it
	helper string // the helper module at its version
}

func explainerFor(list *targets.List) explainer {
	if list == nil {
		return explainer{goRef: "(unknown)", helper: targets.HelperModule}
	}
	var mods []string
	for _, h := range list.Helpers {
		if !slices.Contains(mods, graph.ModuleKey(h)) {
			mods = append(mods, graph.ModuleKey(h))
		}
	}
	return explainer{goRef: list.Go.Ref, helper: strings.Join(mods, ", ")}
}

// causes is, in the order a binary meets the stages, how a failure of each
// kind of stage is told in one line.
var causes = []struct {
	kind graph.Kind
	// toolchain: the stage runs the go image's toolchain, so a go image
	// without one is named as the cause.
	toolchain bool
	tell      func(x explainer, f failure) string
}{
	{graph.KindImage, false, tellPull},
	{graph.KindToolchain, true, tellNoToolchain},
	{graph.KindToolSource, false, tellLastWords},
	{graph.KindStageTool, true, tellCompile},
	{graph.KindOwnTool, false, tellLastWords},
	{graph.KindDownload, true, tellDownload},
	{graph.KindModuleCheck, false, tellLastWords},
	{graph.KindStatic, true, tellCompile},
	{graph.KindSetup, false, tellSetup},
	{graph.KindCompile, true, tellCompile},
	{graph.KindFinish, false, tellLastWords},
	{graph.KindVerify, false, tellLastWords},
	{graph.KindDeliver, false, tellDeliver},
	{graph.KindExport, false, tellLastWords},
	{graph.KindCell, false, tellLastWords},
}

// tell is the cause of failure f, before OneLine.
func (x explainer) tell(f failure) string {
	if _, why := x.pullProblem(f); why != "" {
		return why
	}
	for _, c := range causes {
		if c.kind != f.stage.Kind {
			continue
		}
		if c.toolchain {
			if why := x.toolchainProblem(f); why != "" {
				return why
			}
		}
		return c.tell(x, f)
	}
	return tellLastWords(x, f)
}

// lostLayer finds a layer BuildKit could not fetch in a failure's text.
var lostLayer = regexp.MustCompile(`could not fetch content descriptor (sha256:[0-9a-f]{64})[^:]*: ([^\n]*)`)

// pullProblem names the image whose layer the registry could not serve,
// and gives the stage of its pull (image and platform); why is "" when no
// layer was lost. BuildKit fetches an image's layers only when a stage
// first mounts it, so that stage fails (a compile, a verify), but the
// culprit is the image: the stage's own, or the go image for the stages
// that share it.
func (x explainer) pullProblem(f failure) (pull graph.Stage, why string) {
	m := lostLayer.FindStringSubmatch(f.err + "\n" + strings.Join(f.log.lines, "\n"))
	if m == nil {
		return graph.Stage{}, ""
	}
	img := f.stage.Image
	if img == "" || f.stage.Kind.Shared() {
		img = x.goRef
	}
	st := graph.Stage{Kind: graph.KindImage, Image: img, Platform: f.stage.Platform}
	return st, fmt.Sprintf("%s: its layer %s could not be fetched from the registry: %s", headline(st), m[1], m[2])
}

// toolchainProblem names a go image without a toolchain where llbgen
// mounts and runs it, or with one that does not run on the daemon's
// platform, rather than the stage that found out.
func (x explainer) toolchainProblem(f failure) string {
	said := f.err + "\n" + strings.Join(f.log.lines, "\n")
	switch {
	case strings.Contains(said, `"/usr/local/go": not found`),
		strings.Contains(said, "/usr/local/go/bin/go: no such file or directory"):
		return fmt.Sprintf("the go image %s has no Go toolchain at /usr/local/go", x.goRef)
	case strings.Contains(said, "exec format error") && f.stage.Kind != graph.KindCompile:
		on := ""
		if f.stage.Platform != "" {
			on = " on " + f.stage.Platform
		}
		return fmt.Sprintf("the Go toolchain of the go image %s does not run%s (exec format error)", x.goRef, on)
	}
	return ""
}

// headline names the stage that failed: "compiling the helper for
// linux/amd64 failed".
func headline(s graph.Stage) string {
	t := s.Kind.Title()
	if t == "" {
		t = string(s.Kind)
	}
	switch {
	case s.Kind == graph.KindImage && s.Image != "":
		t += " " + s.Image
		if s.Platform != "" {
			t += " (" + s.Platform + ")"
		}
	case s.Kind == graph.KindStatic && s.Platform != "":
		if s.Module != "" {
			t += " " + s.Module // one of several helpers
		}
		t += " for " + s.Platform
	case s.Kind == graph.KindDownload && s.Module != "":
		t += " " + s.Module
	}
	return t + " failed"
}

func tellPull(_ explainer, f failure) string {
	return headline(f.stage) + ": " + plan.FirstLine(f.err)
}

// tellNoToolchain: the toolchain's snapshot is the go image with a
// directory made in /usr/local/go; nothing but a missing (or not a
// directory) /usr/local/go makes that fail.
func tellNoToolchain(x explainer, f failure) string {
	return fmt.Sprintf("the go image %s has no Go toolchain at /usr/local/go: %s", x.goRef, plan.FirstLine(f.err))
}

// tellLastWords gives the diagnosis llbgen's stage tool printed
// ("llbgen: target NAME: ..."), or the stage's last lines.
func tellLastWords(_ explainer, f failure) string {
	return headline(f.stage) + ": " + lastWords(f, 3)
}

// tellDeliver names what a delivery (a file op: it runs nothing) missed:
// the verdict its check should have left, else BuildKit's words.
func tellDeliver(x explainer, f failure) string {
	if strings.Contains(f.err, `"/verdict": not found`) {
		return headline(f.stage) + ": its check left no verdict"
	}
	return tellLastWords(x, f)
}

func tellSetup(_ explainer, f failure) string {
	if f.stage.Command == "" {
		return headline(f.stage) + ": " + lastLines(f, 3)
	}
	return fmt.Sprintf("setup command %q failed: %s", f.stage.Command, lastLines(f, 3))
}

// tellCompile gives the compiler's first errors: the file:line:col lines
// go build prints under "# package".
func tellCompile(_ explainer, f failure) string {
	var errs []string
	for _, l := range f.log.lines {
		switch {
		case len(errs) < 3 && position.MatchString(l):
			errs = append(errs, l)
		case strings.HasPrefix(l, "note: module requires Go"):
			errs = append(errs, l)
		}
	}
	if len(errs) > 0 {
		return headline(f.stage) + ": " + strings.Join(errs, "; ")
	}
	// No position: the compiler's (or cgo's, or the C compiler's) last
	// words, not the stage tool's line that repeats the go command.
	for _, l := range f.log.lines {
		if !strings.HasPrefix(l, "llbgen: ") {
			errs = append(errs, l)
		}
	}
	if len(errs) == 0 {
		return headline(f.stage) + ": " + lastWords(f, 3)
	}
	return headline(f.stage) + ": " + strings.Join(errs[max(len(errs)-3, 0):], "; ")
}

// position starts a compiler's error line: file:line: or file:line:col:.
var position = regexp.MustCompile(`^[^\s#:][^:]*:[0-9]+(:[0-9]+)?: `)

// tellDownload gives the last "go: ..." line the go command printed, and
// says so when the helper's version is not one the proxy knows.
func tellDownload(x explainer, f failure) string {
	msg := lastWords(f, 1)
	for i := len(f.log.lines) - 1; i >= 0; i-- {
		if m, ok := strings.CutPrefix(f.log.lines[i], "go: "); ok {
			msg = m
			break
		}
	}
	if isUnknownVersion(msg) {
		mod := x.helper
		if f.stage.Module != "" {
			mod = f.stage.Module // the download that failed
		}
		return "module version unknown (is " + mod + " published?): " + msg
	}
	return headline(f.stage) + ": " + msg
}

func isUnknownVersion(msg string) bool {
	// 403 is what some proxies answer for a version they do not serve.
	for _, s := range []string{"404 Not Found", "410 Gone", "403 Forbidden", "unknown revision", "invalid version", "no matching versions"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// lastWords is the last diagnosis llbgen's stage tool printed
// ("llbgen: target NAME: MSG" gives MSG), or the last n lines.
func lastWords(f failure, n int) string {
	for i := len(f.log.lines) - 1; i >= 0; i-- {
		if msg, ok := strings.CutPrefix(f.log.lines[i], "llbgen: "); ok {
			if rest, ok := strings.CutPrefix(msg, "target "); ok {
				if _, m, ok := strings.Cut(rest, ": "); ok {
					return m
				}
			}
			return msg
		}
	}
	return lastLines(f, n)
}

// lastLines joins a stage's last n log lines, or gives its error.
func lastLines(f failure, n int) string {
	if len(f.log.lines) == 0 {
		return plan.FirstLine(processFailed.ReplaceAllString(f.err, ""))
	}
	from := max(len(f.log.lines)-n, 0)
	return strings.Join(f.log.lines[from:], "; ")
}

// processFailed is how BuildKit starts the error of an exec that failed,
// naming its whole command line: the stage already says what it was.
var processFailed = regexp.MustCompile(`^process ".*" did not complete successfully: `)

// MaxCause is how many bytes of a cause OneLine keeps.
const MaxCause = plan.MaxCause

// OneLine is plan.OneLine, the one sanitizer every cause llbgen shows
// goes through (the plan's refusals are causes too).
func OneLine(s string) string { return plan.OneLine(s) }
