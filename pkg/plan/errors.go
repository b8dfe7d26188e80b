package plan

import (
	"errors"

	"github.com/containerd/platforms"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/lock"
	"github.com/llbgen/llbgen/pkg/targets"
)

// Error stops a run before anything is built.
type Error struct {
	Err error
	// Pos, when set, is where in the list the fix goes; the message
	// starts with it, as a list refusal does.
	Pos targets.Pos
	// Lines are the places of the list the error is about (Pos among
	// them), for a frontend to show under the error.
	Lines []targets.Pos
	// BadInput: the list, its lock, the flags or the build arguments are
	// wrong (the CLI exits 2). Otherwise what the daemon answered stops
	// the run: an image that did not resolve, a lock for another platform.
	BadInput bool
}

// Error is one line of at most MaxError bytes, safe on a terminal
// (OneLine), whatever Err holds: an image's config, a daemon's answer,
// several refusals (joined with "; ").
func (e *Error) Error() string {
	msg := e.Err.Error()
	if e.Pos.Line > 0 {
		msg = e.Pos.String() + ": " + msg
	}
	return oneLine(joinLines(msg), MaxError)
}

func (e *Error) Unwrap() error { return e.Err }

// badInput marks err as bad input, unless it is one already.
func badInput(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Err: err, BadInput: true}
}

// lockLines are the places of list a lock that does not cover it is
// about: the helper's version, and every image it does not pin (the go:
// key for the go image, a target's image otherwise).
func lockLines(list *targets.List, f *lock.File) []targets.Pos {
	var out []targets.Pos
	for _, h := range list.Helpers {
		if _, ok := f.Module(h.Spec().Module, h.Version); !ok && h.Pos.Line > 0 {
			out = append(out, h.Pos)
		}
	}
	def, err := platforms.Parse(f.Platform)
	if err != nil {
		return out
	}
	def = platforms.Normalize(def)
	goUnlocked := false
	for _, k := range graph.Images(list, def) {
		goUnlocked = goUnlocked || k.Ref == list.Go.Full && f.Digest(k) == ""
	}
	if key, ok := goKey(list); ok && goUnlocked {
		out = append(out, key)
	}
	for _, t := range list.Targets {
		for _, b := range t.Binaries() {
			p := def
			if b.Platform != nil {
				p = platforms.Normalize(*b.Platform)
			}
			if f.Digest(graph.ImageKey{Ref: t.Image.Full, Platform: platforms.Format(p)}) == "" && t.Image.Pos.Line > 0 {
				out = append(out, t.Image.Pos)
				break
			}
		}
	}
	return out
}

// goKey is where the list's `go:` key is written; false when the list
// names no go image (or was not read from a file).
func goKey(list *targets.List) (targets.Pos, bool) {
	return list.GoKey, list.GoKey.Line > 0
}
