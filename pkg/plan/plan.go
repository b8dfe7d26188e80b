// Package plan decides what a run builds: from the target list, its lock,
// the settings (llbgen's environment or a frontend's build arguments) and
// what the daemon says about itself, one function (Make) gives the list to
// build (expanded to the build's platforms), the graph options (pinned
// images, platforms, epoch, module environment) and the binaries refused
// before anything is built, each with its cause.
//
// Every way of running calls Make: the pipe (no daemon: nothing resolved,
// the lock's platform or graph.DefaultPlatform), `llbgen build` and
// `llbgen matrix` (per-binary refusals), `llbgen lock` (every image must
// resolve) and the gateway frontend (any refusal fails the build). What
// differs between them is data in Input and Daemon, never a copy of the
// logic.
//
// Where a daemon resolves images, Make also checks the go image before any
// build: a Go toolchain for the platform at /usr/local/go (toolchain.go).
package plan

import (
	"context"

	"github.com/containerd/platforms"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/lock"
	"github.com/llbgen/llbgen/pkg/targets"
)

// Input is what a run asks for, as the way of running read it.
type Input struct {
	List *targets.List
	// Lock, when set, pins the images and the helper module's hash; it
	// must cover List. LockPath names it in messages.
	Lock     *lock.File
	LockPath string
	// Locking is `llbgen lock`: every image is resolved afresh and must
	// resolve; Lock is ignored, so it neither pins nor excuses skipping
	// the checksum database; no binary is refused for its platform.
	Locking bool
	// Env holds the module settings (graph.PassThroughEnv; other keys are
	// ignored) and SourceDateEpoch the SOURCE_DATE_EPOCH value ("" unset):
	// llbgen's environment, or the build arguments.
	Env             map[string]string
	SourceDateEpoch string
	// From is how messages name a setting's origin: "" for the
	// environment, "build-arg:" for build arguments.
	From string
	// ProxySecret: a GOPROXY with credentials comes only as the build's
	// secret graph.ProxySecretID (build arguments are recorded in the
	// build's history and provenance), so one in Env is refused.
	ProxySecret bool
	// Platforms are the build's target platforms (a frontend's
	// --platform): targets that name none are built for each. None: the
	// daemon's.
	Platforms []ocispecs.Platform
	// AllOrNothing: a binary that cannot be built fails the whole run (a
	// frontend has one result); otherwise only that binary is refused.
	AllOrNothing bool
}

// Daemon is what the daemon says about itself; the zero Daemon is none
// (the pipe).
type Daemon struct {
	// Name names the daemon in messages: "the daemon at unix:///...".
	Name string
	// Platform is the platform it builds on; zero when not known.
	Platform ocispecs.Platform
	// CanRun says whether it runs binaries of a platform, natively or
	// emulated; nil when not known (every binary is then verified, and a
	// cgo target is not refused for its platform).
	CanRun func(ocispecs.Platform) bool
	// Resolver resolves images with the session's credentials and solves
	// the go image to check its toolchain; nil: images are used by
	// reference, or from the lock.
	Resolver gateway.Client
}

// Plan is what a run builds and how.
type Plan struct {
	// List is what is built: the input list, its targets that name no
	// platforms expanded to Input.Platforms when there are several.
	List *targets.List
	// Graph configures graph.Define; Graph.Platform is the platform the
	// definition is marshalled for.
	Graph graph.Options
	// Refused holds the binaries (by targets.Binary.Name) that cannot be
	// built and why; a target's binaries are refused together. Empty when
	// Input.AllOrNothing: a refusal is then Make's error.
	Refused map[string]Refusal
}

// Refusal is why one binary cannot be built.
type Refusal struct {
	Cause string      // one line
	Pos   targets.Pos // what in the list it is about (an image); zero when nothing
}

// Make turns the input and the daemon's facts into the plan. Bad input is
// a *Error with BadInput set, as is a go image without a usable
// toolchain; an image that did not resolve fails the run (a *Error) only
// where Input says so.
func Make(ctx context.Context, in Input, d Daemon) (*Plan, error) {
	p, err := settle(in)
	if err != nil {
		return nil, err
	}
	if err := p.onDaemon(ctx, in, d); err != nil {
		return nil, err
	}
	return p, nil
}

// Check refuses bad input before any daemon is contacted: what Make would
// refuse whatever the daemon says.
func Check(in Input) error {
	_, err := settle(in)
	return err
}

// settle makes every decision that needs no daemon: the lock, the module
// settings, the epoch and the platforms.
func settle(in Input) (*Plan, error) {
	p := &Plan{List: in.List, Refused: map[string]Refusal{}}
	lk := in.Lock
	if in.Locking {
		lk = nil
	}
	if lk != nil {
		if err := lk.Check(in.LockPath, in.List); err != nil {
			return nil, &Error{Err: err, Lines: lockLines(in.List, lk), BadInput: true}
		}
	}
	env, err := moduleEnv(in, lk)
	if err != nil {
		return nil, err
	}
	p.Graph.Env, p.Graph.ProxySecret = env, in.ProxySecret
	if p.Graph.SourceDateEpoch, err = graph.ParseSourceDateEpoch(in.From+"SOURCE_DATE_EPOCH", in.SourceDateEpoch); err != nil {
		return nil, badInput(err)
	}
	if err := p.platforms(in, lk); err != nil {
		return nil, err
	}
	if lk != nil {
		lk.Apply(&p.Graph)
	}
	return p, nil
}

// Buildable is the list without its refused targets; nil when nothing can
// be built.
func (p *Plan) Buildable() *targets.List {
	out := *p.List
	out.Targets = nil
	for _, t := range p.List.Targets {
		if _, bad := p.Refused[t.Binaries()[0].Name]; !bad {
			out.Targets = append(out.Targets, t)
		}
	}
	if len(out.Targets) == 0 {
		return nil
	}
	return &out
}

// PlatformOf is the platform b is built for.
func (p *Plan) PlatformOf(b targets.Binary) ocispecs.Platform {
	switch {
	case b.Platform != nil:
		return platforms.Normalize(*b.Platform)
	case p.Graph.Target.OS != "":
		return p.Graph.Target
	}
	return p.Graph.Platform
}

// Digest is the manifest digest b's image was pinned to; "" when it is
// used by reference.
func (p *Plan) Digest(b targets.Binary) digest.Digest {
	return p.Graph.Images[graph.ImageKey{Ref: b.Target.Image.Full, Platform: platforms.Format(p.PlatformOf(b))}].Digest
}
