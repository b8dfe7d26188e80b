package plan

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/util/grpcerrors"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/grpc/codes"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/targets"
)

// goBinary is the go command every stage runs, from the go image.
const goBinary = "/usr/local/go/bin/go"

// toolchainUse is a platform the go image's toolchain runs on, and who
// needs it there, for messages: "the daemon builds on linux/amd64".
type toolchainUse struct {
	platform ocispecs.Platform
	who      string
}

// checkToolchains refuses the run, as bad input at the list's go: key,
// when the go image has no Go toolchain for a platform it runs on: the
// daemon's, and each platform a cgo target compiles on. It solves the
// pinned image, running nothing, and reads the head of bin/go. A
// platform whose go image did not resolve is skipped: its binaries are
// refused already.
func (p *Plan) checkToolchains(ctx context.Context, c gateway.Client) error {
	for _, u := range p.toolchainUses() {
		k := graph.ImageKey{Ref: p.List.Go.Full, Platform: platforms.Format(u.platform)}
		r, ok := p.Graph.Images[k]
		if !ok {
			continue
		}
		problem := configProblem(r.Config, u)
		if problem == "" {
			head, err := readGoHead(ctx, c, k, r, u.platform)
			if err != nil {
				return err
			}
			problem = headProblem(head, u)
		}
		if problem != "" {
			return p.toolchainError(problem, u.platform)
		}
	}
	return nil
}

// toolchainUses are the platforms the toolchain runs on: the daemon's
// first, then, sorted, those of the cgo binaries that are not refused.
func (p *Plan) toolchainUses() []toolchainUse {
	def := p.Graph.Platform
	uses := []toolchainUse{{def, "the daemon builds on " + platforms.Format(def)}}
	seen := map[string]bool{platforms.Format(def): true}
	var cgo []toolchainUse
	for _, b := range p.List.Binaries() {
		if _, refused := p.Refused[b.Name]; refused || !b.Cgo() {
			continue
		}
		pl := p.PlatformOf(b)
		if s := platforms.Format(pl); !seen[s] {
			seen[s] = true
			cgo = append(cgo, toolchainUse{pl, "cgo target " + b.Target.Name + " compiles on " + s})
		}
	}
	sort.Slice(cgo, func(i, j int) bool { return platforms.Format(cgo[i].platform) < platforms.Format(cgo[j].platform) })
	return append(uses, cgo...)
}

// configProblem is what the resolved image config says against use: an
// image for another OS or architecture; "" when it agrees or there is
// none (a locked image is not resolved).
func configProblem(config []byte, u toolchainUse) string {
	var img ocispecs.Image
	if len(config) == 0 || json.Unmarshal(config, &img) != nil || img.OS == "" || img.Architecture == "" {
		return ""
	}
	got := platforms.Normalize(ocispecs.Platform{OS: img.OS, Architecture: img.Architecture, Variant: img.Variant})
	if got.OS == u.platform.OS && got.Architecture == u.platform.Architecture {
		return ""
	}
	return fmt.Sprintf(": the image is for %s (its config), %s", shownPlatform(got.OS, got.Architecture), u.who)
}

// plainWord is an OS or architecture as a platform names it.
var plainWord = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,31}$`)

// shownPlatform is what an image's config says it is for, as a message
// shows it: os/arch when both are plain words, else quoted and clipped
// (targets.Quote): the config is the image's, not ours, and may hold
// escape sequences, newlines or megabytes.
func shownPlatform(os, arch string) string {
	if plainWord.MatchString(os) && plainWord.MatchString(arch) {
		return os + "/" + arch
	}
	return targets.Quote(os + "/" + arch)
}

// headProblem judges the first bytes of bin/go (nil: there is no such
// regular file) against use.
func headProblem(head []byte, u toolchainUse) string {
	if head == nil {
		return " has no Go toolchain at /usr/local/go (no regular file " + goBinary + ")"
	}
	arch, ok := elfArch(head)
	switch {
	case !ok:
		return " has no Go toolchain at /usr/local/go (" + goBinary + " is not an ELF executable)"
	case arch != u.platform.Architecture:
		if _, known := goArchELF[arch]; known {
			arch = "linux/" + arch
		}
		return fmt.Sprintf(": its toolchain is for %s, %s", arch, u.who)
	}
	return ""
}

// readGoHead solves the go image as resolved for platform, running
// nothing, and reads the first bytes of bin/go; nil when there is no such
// regular file (bad input: the image has no toolchain). Any other failure
// is the daemon's (the image could not be pulled, the connection was lost,
// the daemon failed): a *Error that is not bad input, told in one line.
func readGoHead(ctx context.Context, c gateway.Client, k graph.ImageKey, r graph.Resolved, platform ocispecs.Platform) ([]byte, error) {
	ref, err := graph.Pinned(k.Ref, r.Digest)
	if err != nil {
		return nil, &Error{Err: err}
	}
	daemonError := func(what string, err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &Error{Err: fmt.Errorf("%s: %w", what, err)}
	}
	pulling := fmt.Sprintf("pulling the go image %s (%s) to check its toolchain", ref, k.Platform)
	def, err := llb.Image(ref, llb.Platform(platform), llb.WithCustomName("check the toolchain of "+ref+" ("+k.Platform+")")).
		Marshal(ctx, llb.Platform(platform))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pulling, err)
	}
	res, err := c.Solve(ctx, gateway.SolveRequest{Definition: def.ToPB(), Evaluate: true})
	if err != nil {
		return nil, daemonError(pulling, err)
	}
	img, err := res.SingleRef()
	if err != nil {
		return nil, daemonError(pulling, err)
	}
	reading := fmt.Sprintf("reading %s of the go image %s", goBinary, ref)
	st, err := img.StatFile(ctx, gateway.StatRequest{Path: goBinary})
	if err != nil {
		absent, err := toolchainAbsent(ctx, img, err)
		if absent {
			return nil, nil
		}
		return nil, daemonError(reading, withoutMounts{err})
	}
	if !regularOrLink(st.Mode) {
		return nil, nil // a directory, a device, a FIFO...
	}
	// StatFile follows links, but what ReadFile opens may have changed.
	head, err := img.ReadFile(ctx, gateway.ReadRequest{Filename: goBinary, Range: &gateway.FileRange{Length: elfHeadBytes}})
	switch {
	case err != nil && (missingAt(err, goBinary) || brokenPath(err)):
		return nil, nil
	case err != nil:
		return nil, daemonError(reading, withoutMounts{err})
	case head == nil:
		head = []byte{}
	}
	return head, nil
}

// regularOrLink says whether a file of mode (as fsutil gives it: an
// os.FileMode) is a regular file or a symbolic link.
func regularOrLink(mode uint32) bool {
	m := os.FileMode(mode)
	return m.IsRegular() || m&os.ModeSymlink != 0
}

// goDirs are the directories above goBinary, from the root down.
var goDirs = []string{"/usr", "/usr/local", "/usr/local/go", "/usr/local/go/bin"}

// toolchainAbsent tells, from the daemon's error statErr on StatFile of
// goBinary, whether the image has no toolchain there (true) or the daemon
// failed (false, and the error to tell, its gRPC code kept).
//
// BuildKit v0.34.2's StatFile (cache/util/fsutil.go) resolves the path in
// the mounted image with continuity's fs.RootPath, then lstats it with
// fsutil.Stat, and puts the requested path back only into that lstat's
// error. So bin/go missing (or a link to nothing) is
// "lstat /usr/local/go/bin/go: no such file or directory", but a file
// where a directory should be fails inside RootPath's walkLink, which
// names the component in the daemon's mount:
// "lstat /tmp/buildkit-mount123/usr/local/go/bin: not a directory" when
// /usr/local/go is a file; and a link loop is RootPath's errTooManyLinks,
// "too many links", naming nothing. Rather than trusting that text, the
// directories above bin/go are looked at from the root down: the first
// that is missing or not a directory means no toolchain. When all are
// directories, bin/go's own error still tells a link that loops or
// leads through a file.
func toolchainAbsent(ctx context.Context, img gateway.Reference, statErr error) (bool, error) {
	if !pathFailure(statErr) {
		return false, statErr
	}
	if missingAt(statErr, goBinary) {
		return true, nil
	}
	for _, dir := range goDirs {
		st, err := img.StatFile(ctx, gateway.StatRequest{Path: dir})
		switch {
		case err == nil && st != nil && !os.FileMode(st.Mode).IsDir():
			return true, nil
		case err == nil:
		case pathFailure(err) && (missingAt(err, dir) || brokenPath(err)):
			return true, nil
		default:
			return false, err
		}
	}
	return brokenPath(statErr), statErr
}

// pathFailure says whether err may be a path error in the image:
// BuildKit sends those as text, with code Unknown (grpcerrors.ToGRPC of
// an *os.PathError); any other code is the daemon's failure.
func pathFailure(err error) bool {
	c := grpcerrors.Code(err)
	return c == codes.Unknown || c == codes.NotFound
}

// missingAt says whether the daemon's err is a path error on path of
// the image (not of the daemon: "mount /var/lib/buildkit/...: no such
// file or directory" is its own) saying there is no regular file there.
// ReadFile puts the requested path into every path error (even
// RootPath's, so "lstat /usr/local/go/bin/go: not a directory" when
// /usr/local/go is a file); StatFile only into its final lstat's.
func missingAt(err error, path string) bool {
	if !pathFailure(err) {
		return false
	}
	msg := err.Error()
	for _, end := range []string{
		": no such file or directory",
		": not a directory",
		": not a regular file", // openfile.ErrNotRegular, from ReadFile
	} {
		if strings.Contains(msg, " "+path+end) {
			return true
		}
	}
	return false
}

// brokenPath says whether the daemon's err is the image's path leading
// nowhere: an lstat that met a file where a directory should be
// ("lstat MOUNT/usr/local/go/bin: not a directory"; the daemon's mount
// is a directory, so the file is the image's), or a loop of links
// (continuity's errTooManyLinks, "too many links"; ELOOP's text too).
func brokenPath(err error) bool {
	if grpcerrors.Code(err) != codes.Unknown {
		return false
	}
	msg := err.Error()
	return strings.HasSuffix(msg, ": not a directory") && strings.Contains(msg, "lstat /") ||
		strings.HasSuffix(msg, "too many links") ||
		strings.HasSuffix(msg, "too many levels of symbolic links")
}

// mountedPath is a path in the daemon's mount of the image
// ("/tmp/buildkit-mount123/usr/local/go/bin") as RootPath's errors name
// it, a word of its own; the image's path is the second group.
var mountedPath = regexp.MustCompile(`(^|\s)/[^\s:]*?(/usr(?:/local(?:/go(?:/bin(?:/go)?)?)?)?)(:|\s|$)`)

// imagePaths is the daemon's message with each path in its mount of
// the image told as the image's path: the daemon's mount means nothing
// to the user.
func imagePaths(msg string) string { return mountedPath.ReplaceAllString(msg, "$1$2$3") }

// withoutMounts is a daemon's error told with imagePaths, unwrapping to
// it (its gRPC code stays): for errors on paths in the image.
type withoutMounts struct{ err error }

func (e withoutMounts) Error() string { return imagePaths(e.err.Error()) }
func (e withoutMounts) Unwrap() error { return e.err }

// namesAFile says whether list was read from a file (with its targets,
// or only for its helper and go image, with --image flags): a list made
// from --image flags alone is named "--image", as targets.FromImages
// names it.
func namesAFile(list *targets.List) bool {
	return list.File != "" && list.File != "--image"
}

// toolchainError is the one line that refuses the run: where the list
// names the go image (or that it names none), what is wrong, what to do.
func (p *Plan) toolchainError(problem string, platform ocispecs.Platform) error {
	list, plat := p.List, platforms.Format(platform)
	key, named := goKey(list)
	if !named {
		fix := "add `go: IMAGE` to " + list.File
		if !namesAFile(list) {
			fix = "name one with `go: IMAGE` in a target list (-f FILE)"
		}
		return &Error{
			Err: fmt.Errorf("the list names no go image, and the default %s%s; %s, naming an image with a Go toolchain for %s at /usr/local/go",
				list.Go.Ref, problem, fix, plat),
			BadInput: true,
		}
	}
	return &Error{
		Err: fmt.Errorf("go image %s%s; name an image with a Go toolchain for %s at /usr/local/go (the golang images have one for each platform)",
			list.Go.Ref, problem, plat),
		Pos:      key,
		Lines:    []targets.Pos{key},
		BadInput: true,
	}
}
