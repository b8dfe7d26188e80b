// Package stagetool is the program llbgen's stages run inside BuildKit:
// the stage tool. It is meant for stages, not for the user's machine.
//
// The package is standard library only. The pipe and the frontend compile
// it (statically linked) in the Go toolchain image, from this source and a
// main of two lines (graph's toolFiles); `llbgen build` sends its own
// executable instead where that is static and for the daemon's platform
// (llbgen runs Main when it is started as "stagetool"). Either is mounted
// into every target image, which may have no shell at all. Its modes:
//
//	stagetool check -target NAME -want VERSION -in BIN -out VERDICT
//	    runs BIN version in the image it is mounted in; writes VERDICT,
//	    naming BIN's sha256 (Verdict), only when the run succeeds and its
//	    output ends in VERSION, else fails and says why in one line (see
//	    diagnose). Nothing else leaves the stage.
//	stagetool finish -in BIN -out FILE [-info INFO] [-epoch N] [-time T]
//	    in the toolchain image, once per compile: copies BIN to FILE with its
//	    build information beside it, both dated. Each binary whose check
//	    passed is copied from there under its own name (a BuildKit file op).
//	stagetool cell -in BIN -want VERSION -out FILE [-platform P] [-timeout D]
//	    runs BIN version as check does, for one cell of a matrix, and writes
//	    FILE: JSON {ok, output, cause, other_platform, not_run}. A BIN for
//	    another platform than P is not run (other_platform); one nothing here
//	    can run is not_run. Fails only for its own errors.
//	stagetool sums -dir DIR -out FILE
//	    writes FILE in `sha256sum -c` format for the binaries of DIR, sorted
//	    by name.
//	stagetool modsum -ziphash FILE -want h1:...
//	    fails unless the downloaded module's hash is the locked one.
//	stagetool gobuild -info INFO -commit-var VAR [-epoch N] [-locked -commit C -time T] [-buildinfo] -out BIN -- go build ...
//	    runs the go command; when the module proxy's INFO (or, with -locked,
//	    the lock's C) reports the origin commit, a full hex hash, adds
//	    `-X VAR=<7-char commit>` to its -ldflags; then dates BIN at N
//	    (SOURCE_DATE_EPOCH) or else at the version's time (INFO's, or T); with
//	    -buildinfo (a static compile, where no image's code runs), also writes
//	    BIN's build information beside it, as finish does.
package stagetool

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Name is the stage tool's file name: a program started under it is the
// stage tool.
const Name = "stagetool"

// Main runs the stage tool with args (os.Args: the program, a mode, its
// flags) and returns the exit code: 0, 1 when the mode failed (one line on
// standard error says why), 2 for a usage error.
func Main(args []string) int {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: stagetool check|finish|cell|sums|gobuild|modsum [flags]")
		return 2
	}
	var err error
	switch args[1] {
	case "check":
		err = runCheck(args[2:])
	case "finish":
		err = runFinish(args[2:])
	case "cell":
		err = runCell(args[2:])
	case "sums":
		err = runSums(args[2:])
	case "gobuild":
		err = runGoBuild(args[2:])
	case "modsum":
		err = runModSum(args[2:])
	default:
		err = fmt.Errorf("unknown mode %q", args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "llbgen: "+err.Error())
		return 1
	}
	return 0
}

func runCheck(args []string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	target := fs.String("target", "", "target name, for messages")
	want := fs.String("want", "", "version the binary must report")
	in := fs.String("in", "", "binary to run")
	out := fs.String("out", "", "where to write the verdict once verified")
	timeout := fs.Duration("timeout", 2*time.Minute, "longest time the binary may run")
	fs.Var(&checkArgs, "arg", "an argument to run the binary with (repeated; default: version)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *target == "" || *want == "" || *in == "" || *out == "" {
		return errors.New("check needs -target, -want, -in and -out")
	}
	// The binary's sum is taken before anything of the image runs: the
	// verdict names the bytes that were run.
	sum, err := fileSum(*in)
	if err != nil {
		return fmt.Errorf("target %s: reading the binary: %w", *target, err)
	}
	output, err := run(*in, *timeout)
	if err := check(*target, "/", *in, *want, output, err); err != nil {
		return err
	}
	// Only a verdict leaves this stage: the image's loader and libc ran in
	// it, so nothing it wrote is taken for a binary (deliver does that).
	if err := os.WriteFile(*out, []byte(Verdict(sum)), 0o644); err != nil {
		return fmt.Errorf("target %s: writing the verdict: %w", *target, err)
	}
	fmt.Printf("target %s: verified: %s\n", *target, strings.TrimSpace(output))
	return nil
}

// verdictOK starts the verdict a check writes: the file a binary's
// delivery copies, so a binary is delivered only once its check passed.
// The sha256 of the binary that was run follows it: `llbgen build`, which
// reads a binary's files from its compile rather than its delivery, writes
// only those bytes.
const verdictOK = "verified"

// MaxVerdict bounds a verdict as a reader takes it: a check's output is
// written where an image's code ran.
const MaxVerdict = 256

// Verdict is the verdict of a check that ran the binary whose sha256 is
// sum (hex).
func Verdict(sum string) string { return verdictOK + " sha256:" + sum + "\n" }

// VerdictSum is the sha256 (hex) a verdict names; ok is false for
// anything but a verdict Verdict writes.
func VerdictSum(data []byte) (sum string, ok bool) {
	rest, found := strings.CutPrefix(string(data), verdictOK+" sha256:")
	if !found {
		return "", false
	}
	sum, found = strings.CutSuffix(rest, "\n")
	if !found || len(sum) != sha256.Size*2 || strings.Trim(sum, "0123456789abcdef") != "" {
		return "", false
	}
	return sum, true
}

// fileSum is the sha256 (hex) of path, a regular file of at most
// maxBinary bytes: a cgo compile ran the image's compiler, which may have
// left a FIFO, a link to /dev/zero or something endless there, and the
// sum is taken before the run's timeout applies.
func fileSum(path string) (string, error) {
	f, fi, err := openRegular(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if fi.Size() > maxBinary {
		return "", fmt.Errorf("%s is %d bytes, more than a binary can be (%d)", path, fi.Size(), maxBinary)
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, maxBinary)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// deliver copies the binary to out with its build information beside it,
// both dated (finish). Dated here, not only where compiled: BuildKit's
// cache keys ignore file times, so a cached copy could carry another run's
// time; finish's arguments carry the epoch and the lock's time.
func deliver(in, out, infoPath, lockedTime string, epoch int64) error {
	if err := copyFile(in, out); err != nil {
		return err
	}
	if err := writeBuildInfo(out); err != nil {
		return err
	}
	t, err := fileTime(infoPath, lockedTime, epoch)
	if err != nil || t.IsZero() {
		return err
	}
	for _, p := range []string{out, out + BuildInfoSuffix} {
		if err := os.Chtimes(p, t, t); err != nil {
			return err
		}
	}
	return nil
}

// checkArgs are the arguments a check runs the binary with: the helper's
// own (-arg, repeated), `version` when none are given.
var checkArgs argList

// argList is a repeated string flag.
type argList []string

func (a *argList) String() string { return strings.Join(*a, " ") }

func (a *argList) Set(v string) error {
	*a = append(*a, v)
	return nil
}

// args is what the binary is run with.
func (a argList) args() []string {
	if len(a) == 0 {
		return []string{"version"}
	}
	return a
}

// command names the run in messages: "`version`".
func (a argList) command() string { return "`" + strings.Join(a.args(), " ") + "`" }

// run executes `bin version` (or the helper's checkArgs) with the image's own libc and a bare, fixed
// environment: the working directory and user are whatever llbgen gave the
// exec (/ and root), never the image's.
func run(bin string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, checkArgs.args()...)
	// A process the binary (or the image's preloaded code) leaves behind
	// holding the output open must not keep the stage alive past timeout.
	cmd.WaitDelay = 5 * time.Second
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"}
	buf := &cappedBuffer{max: maxRunOutput}
	cmd.Stdout = buf
	cmd.Stderr = buf
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %s", timeout)
	}
	return buf.String(), err
}

// maxRunOutput is as much of a run's output as is kept: `version` prints
// one line; whatever an image makes it print past this is dropped.
const maxRunOutput = 64 << 10

// cappedBuffer keeps the first max bytes written to it and drops the rest.
// Not an embedded bytes.Buffer: io.Copy would use its ReadFrom, unbounded.
type cappedBuffer struct {
	buf bytes.Buffer
	max int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *cappedBuffer) String() string { return b.buf.String() }

// check decides whether one run of `bin version` proves the binary works in
// the image whose root file system is root.
func check(target, root, bin, want, output string, runErr error) error {
	cause := why(root, bin, want, output, runErr)
	switch {
	case cause == "":
		return nil
	case runErr != nil:
		return fmt.Errorf("target %s: the binary does not run in its image: %s", target, cause)
	}
	return fmt.Errorf("target %s: %s", target, cause)
}

// why says why one run of `bin version` does not prove the binary works in
// the image whose root file system is root, "" when it does: a binary that
// did not run is diagnosed, one that did must print want last.
func why(root, bin, want, output string, runErr error) string {
	if runErr != nil {
		return diagnoseWithin(diagnoseTimeout, root, bin, runErr, output)
	}
	return versionMismatch(want, output)
}

// diagnoseTimeout bounds a diagnosis: it reads the image's files, and an
// image may put a FIFO or an endless file where a library or config is
// looked for; its stage must end all the same.
const diagnoseTimeout = 30 * time.Second

func diagnoseWithin(limit time.Duration, root, bin string, runErr error, output string) string {
	done := make(chan string, 1)
	go func() { done <- diagnose(root, bin, runErr, output) }()
	select {
	case cause := <-done:
		return cause
	case <-time.After(limit):
		return fmt.Sprintf("%v; no diagnosis: reading the image's files took longer than %s (a FIFO or an endless file where a library or its configuration belongs?)", runErr, limit)
	}
}

// maxPrinted is as much of a wrong `version` output as a cause quotes.
const maxPrinted = 200

// versionMismatch is "" when output ends in the version want, as a word.
func versionMismatch(want, output string) string {
	printed := strings.TrimSpace(output)
	if printed == want || strings.HasSuffix(printed, " "+want) {
		return ""
	}
	if printed == "" {
		printed = "(nothing)"
	}
	if len(printed) > maxPrinted {
		printed = printed[:maxPrinted] + fmt.Sprintf("... (%d bytes)", len(printed))
	}
	return fmt.Sprintf("%s printed %q, want output ending in %q", checkArgs.command(), printed, want)
}

// copyFile copies src, a regular file of at most maxBinary bytes, to dst,
// keeping its modification time.
func copyFile(src, dst string) error {
	in, fi, err := openRegular(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if fi.Size() > maxBinary {
		return fmt.Errorf("%s is %d bytes, more than a binary can be (%d)", src, fi.Size(), maxBinary)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, io.LimitReader(in, maxBinary)); err != nil {
		out.Close()
		return fmt.Errorf("copying %s: %w", src, err)
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chtimes(dst, fi.ModTime(), fi.ModTime())
}

// BuildInfoSuffix names the file beside each binary that holds its Go build
// information, as `go version -m` prints it.
const BuildInfoSuffix = ".buildinfo"

func writeBuildInfo(bin string) error {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return fmt.Errorf("reading the build information: %w", err)
	}
	fi, err := os.Stat(bin)
	if err != nil {
		return err
	}
	path := bin + BuildInfoSuffix
	if err := os.WriteFile(path, []byte(goVersionM(filepath.Base(bin), info)), 0o644); err != nil {
		return err
	}
	return os.Chtimes(path, fi.ModTime(), fi.ModTime())
}

func runSums(args []string) error {
	fs := flag.NewFlagSet("sums", flag.ContinueOnError)
	dir := fs.String("dir", "", "directory of binaries")
	out := fs.String("out", "", "SHA256SUMS file to write")
	epoch := fs.Int64("epoch", -1, "SOURCE_DATE_EPOCH: date the file at this time (default: its newest binary's)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *out == "" {
		return errors.New("sums needs -dir and -out")
	}
	data, err := sums(*dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		return err
	}
	if *epoch >= 0 {
		sumsTime = time.Unix(*epoch, 0)
	}
	if !sumsTime.IsZero() {
		return os.Chtimes(*out, sumsTime, sumsTime)
	}
	return nil
}

// sumsTime is the newest binary's time: SHA256SUMS is dated like its files.
var sumsTime time.Time

// sums returns `sha256sum -c` lines ("HEX  NAME") for the regular files of
// dir, sorted by name.
func sums(dir string) ([]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	var newest time.Time
	for _, e := range entries {
		if e.Type().IsRegular() && e.Name() != "SHA256SUMS" && !strings.HasSuffix(e.Name(), BuildInfoSuffix) {
			names = append(names, e.Name())
			if fi, err := e.Info(); err == nil && fi.ModTime().After(newest) {
				newest = fi.ModTime()
			}
		}
	}
	sumsTime = newest
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("hashing %s: %w", name, err)
		}
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(h.Sum(nil)), name)
	}
	return []byte(b.String()), nil
}

// goVersionM formats build information as `go version -m FILE` prints it.
func goVersionM(name string, info *buildinfo.BuildInfo) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n", name, info.GoVersion)
	for _, line := range strings.Split(strings.TrimRight(info.String(), "\n"), "\n") {
		if !strings.HasPrefix(line, "go\t") {
			b.WriteString("\t" + line + "\n")
		}
	}
	return b.String()
}

// fileTime is when exported files are dated: SOURCE_DATE_EPOCH when given,
// else the locked version time, else the version's time from the module
// proxy's info file; zero when none is known.
func fileTime(infoPath, lockedTime string, epoch int64) (time.Time, error) {
	switch {
	case epoch >= 0:
		return time.Unix(epoch, 0), nil
	case lockedTime != "":
		return time.Parse(time.RFC3339, lockedTime)
	case infoPath == "":
		return time.Time{}, nil
	}
	info, err := readInfo(infoPath)
	if errors.Is(err, os.ErrNotExist) {
		return time.Time{}, nil // no proxy info: leave the times as they are
	}
	return info.Time, err
}

// readInfo reads a module proxy's .info file.
func readInfo(path string) (moduleInfo, error) {
	var info moduleInfo
	data, err := os.ReadFile(path)
	if err != nil {
		return info, fmt.Errorf("reading the module's info: %w", err)
	}
	if err := json.Unmarshal(data, &info); err != nil {
		return info, fmt.Errorf("reading the module's info: %w", err)
	}
	return info, nil
}

// moduleInfo is the part of a module proxy's .info file llbgen reads.
type moduleInfo struct {
	Version string
	Time    time.Time
	Origin  *struct{ VCS, URL, Hash string }
}

func runGoBuild(args []string) error {
	fs := flag.NewFlagSet("gobuild", flag.ContinueOnError)
	infoPath := fs.String("info", "", "the module proxy's .info file of the module built")
	commitVar := fs.String("commit-var", "", "variable to stamp with the origin commit")
	epoch := fs.Int64("epoch", -1, "SOURCE_DATE_EPOCH for the binary's time (unset: the version's time)")
	locked := fs.Bool("locked", false, "take the commit and time from -commit and -time (a lock), not from INFO")
	commit := fs.String("commit", "", "with -locked: the locked origin commit (empty: none)")
	lockedTime := fs.String("time", "", "with -locked: the locked version time (RFC 3339)")
	out := fs.String("out", "", "the binary go build writes")
	withInfo := fs.Bool("buildinfo", false, "also write the binary's build information beside it, dated as it is")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cmdArgs := fs.Args()
	if *infoPath == "" || *out == "" || len(cmdArgs) == 0 {
		return errors.New("gobuild needs -info, -out and a command after --")
	}
	info, err := readInfo(*infoPath)
	if err != nil {
		return err
	}
	if *locked {
		proxyTime := info.Time
		if info, err = lockedInfo(*commit, *lockedTime); err != nil {
			return err
		}
		if *lockedTime == "" {
			info.Time = proxyTime // a lock without a time: the proxy's, as finish does
		}
	}
	if cmdArgs, err = stampCommit(cmdArgs, *commitVar, info); err != nil {
		return err
	}
	cmd := exec.Command(cmdArgs[0], cmdArgs[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", strings.Join(cmdArgs, " "), err)
	}
	if *epoch >= 0 {
		info.Time = time.Unix(*epoch, 0)
	}
	if !info.Time.IsZero() {
		if err := os.Chtimes(*out, info.Time, info.Time); err != nil {
			return err
		}
	}
	if *withInfo {
		return writeBuildInfo(*out)
	}
	return nil
}

// lockedInfo is what a lock recorded of the module proxy's info: a locked
// build uses it, so the proxy cannot change the bits after locking.
func lockedInfo(commit, when string) (moduleInfo, error) {
	var info moduleInfo
	if commit != "" {
		info.Origin = &struct{ VCS, URL, Hash string }{Hash: commit}
	}
	if when != "" {
		t, err := time.Parse(time.RFC3339, when)
		if err != nil {
			return info, fmt.Errorf("the locked time %q: %w", when, err)
		}
		info.Time = t
	}
	return info, nil
}

// stampCommit adds the origin commit to the -ldflags argument, when the
// proxy reported one, as upstream's release build does.
// The hash goes into the linker's flags, so anything but a commit hash (a
// proxy or lock could serve "0 -X other=...") is refused, never passed on.
func stampCommit(args []string, commitVar string, info moduleInfo) ([]string, error) {
	if commitVar == "" || info.Origin == nil || info.Origin.Hash == "" {
		return args, nil
	}
	if !commitHash(info.Origin.Hash) {
		h := info.Origin.Hash
		if len(h) > 80 {
			h = h[:80] + "..."
		}
		return nil, fmt.Errorf("the origin commit %q is not a commit hash (40 or 64 lower-case hex digits); refusing to pass it to the linker", h)
	}
	out := append([]string(nil), args...)
	for i := 0; i+1 < len(out); i++ {
		if out[i] == "-ldflags" {
			out[i+1] += " -X " + commitVar + "=" + info.Origin.Hash[:7]
			return out, nil
		}
	}
	return out, nil
}

// commitHash says whether h is a full git commit hash (SHA-1 or SHA-256).
func commitHash(h string) bool {
	if len(h) != 40 && len(h) != 64 {
		return false
	}
	for _, c := range h {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func runModSum(args []string) error {
	fs := flag.NewFlagSet("modsum", flag.ContinueOnError)
	ziphash := fs.String("ziphash", "", "the module cache's .ziphash file of the module")
	want := fs.String("want", "", "the locked h1: hash")
	if err := fs.Parse(args); err != nil {
		return err
	}
	data, err := os.ReadFile(*ziphash)
	if err != nil {
		return fmt.Errorf("reading the module's hash: %w", err)
	}
	if got := strings.TrimSpace(string(data)); got != *want {
		return fmt.Errorf("the helper module's hash is %s, the lock says %s: the module changed under its version, or the lock is stale (run llbgen lock)", got, *want)
	}
	fmt.Printf("module hash %s matches the lock\n", *want)
	return nil
}
