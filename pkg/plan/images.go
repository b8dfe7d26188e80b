package plan

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/targets"
)

// onDaemon makes the decisions that need the daemon: the platform built
// on, the images pinned, what cannot be built, and whether the go image
// has a toolchain.
func (p *Plan) onDaemon(ctx context.Context, in Input, d Daemon) error {
	lk := in.Lock
	if in.Locking {
		lk = nil
	}
	if d.Platform.OS != "" {
		dp := platforms.Normalize(d.Platform)
		if lk != nil && lk.Platform != platforms.Format(dp) {
			return &Error{Err: fmt.Errorf("%s is for %s, %s builds for %s; run llbgen lock against it",
				orDefault(in.LockPath, "the lock"), lk.Platform, orDefault(d.Name, "the daemon"), platforms.Format(dp))}
		}
		p.Graph.Platform = dp
	}
	if p.Graph.Platform.OS == "" {
		p.Graph.Platform = graph.DefaultPlatform()
	}
	if !in.Locking {
		// A lock pins images; whether the daemon runs them is a build's
		// concern.
		p.Graph.CanRun = d.CanRun
	}
	if d.Resolver == nil {
		return nil
	}
	var unresolved map[graph.ImageKey]error
	if lk == nil {
		p.Graph.Images, unresolved = resolveImages(ctx, d.Resolver, graph.Images(p.List, p.Graph.Platform, p.Graph.Target))
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if err := p.refuse(unresolved, in.AllOrNothing || in.Locking); err != nil {
		return err
	}
	if p.Buildable() == nil {
		return nil
	}
	return p.checkToolchains(ctx, d.Resolver)
}

// refuse gives each binary that cannot be built its cause: one of its
// images did not resolve, or it is a cgo target on a platform the daemon
// cannot run. The go image not resolving on the daemon's platform refuses
// every binary. strict makes the first refusal the run's error.
func (p *Plan) refuse(unresolved map[graph.ImageKey]error, strict bool) error {
	list, def := p.List, platforms.Format(p.Graph.Platform)
	goPos, _ := goKey(list)
	if err, bad := unresolved[graph.ImageKey{Ref: list.Go.Full, Platform: def}]; bad {
		cause := imageCause("toolchain image", list.Go.Ref, err)
		if strict {
			return &Error{Err: errors.New(cause), Lines: nonZero(goPos)}
		}
		for _, b := range list.Binaries() {
			p.Refused[b.Name] = Refusal{Cause: cause, Pos: goPos}
		}
		return nil
	}
	for _, t := range list.Targets {
		var why Refusal
		var where string
		for _, b := range t.Binaries() {
			pl := p.PlatformOf(b)
			for _, k := range imagesOf(list, b, p.Graph.Platform, p.Graph.Target) {
				if err, bad := unresolved[k]; bad && why.Cause == "" {
					name, pos := k.Ref, t.Image.Pos
					if k.Platform != def {
						name += " (" + k.Platform + ")"
					}
					role := imageRole(list, t, k)
					if role != "image" {
						pos = goPos
					}
					why, where = Refusal{Cause: imageCause(role, name, err), Pos: pos}, platforms.Format(pl)
				}
			}
			if b.Cgo() && why.Cause == "" && p.Graph.CanRun != nil && !p.Graph.CanRun(pl) {
				s := platforms.Format(pl)
				cause := fmt.Sprintf("a cgo target compiles on its own platform, and the daemon cannot run %s (no emulator); give it QEMU user emulation, or build %s without cgo", s, s)
				if !t.Cgo {
					// cgo because of its helper: the target's other helpers
					// are refused with it (a target builds all or nothing)
					cause = fmt.Sprintf("%s is built with cgo on its own platform, and the daemon cannot run %s (no emulator); give it QEMU user emulation, or leave %s out of this target's helpers:", b.Helper.FileName(), s, b.Helper.FileName())
				}
				why, where = Refusal{Cause: cause, Pos: t.Pos}, s
			}
		}
		if why.Cause == "" {
			continue
		}
		if strict {
			return &Error{Err: fmt.Errorf("target %s (%s): %s", t.Name, where, why.Cause), Lines: nonZero(why.Pos)}
		}
		// A target's files are built together or not at all.
		for _, b := range t.Binaries() {
			p.Refused[b.Name] = why
		}
	}
	return nil
}

func nonZero(p targets.Pos) []targets.Pos {
	if p.Line == 0 {
		return nil
	}
	return []targets.Pos{p}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// imageRole names what an image is to a target in messages: its own
// "image", or the "toolchain image" (the go image, unless it is the
// target's own).
func imageRole(list *targets.List, t targets.Target, k graph.ImageKey) string {
	if k.Ref == list.Go.Full && k.Ref != t.Image.Full {
		return "toolchain image"
	}
	return "image"
}

// imagesOf lists the images one binary's stages use, besides the
// toolchain on the daemon's platform def; target is the platform of
// binaries that name none (zero: def).
func imagesOf(list *targets.List, b targets.Binary, def, target ocispecs.Platform) []graph.ImageKey {
	one := *list
	t := b.Target
	if b.Platform != nil {
		t.Platforms = []targets.Platform{{Platform: *b.Platform}}
	}
	one.Targets = []targets.Target{t}
	return graph.Images(&one, def, target)
}

// resolveImages resolves every image on its platform on the daemon, in
// parallel, with the session's registry credentials. It returns what
// resolved and, per image, why the others did not.
func resolveImages(ctx context.Context, c gateway.Client, keys []graph.ImageKey) (map[graph.ImageKey]graph.Resolved, map[graph.ImageKey]error) {
	unique := map[graph.ImageKey]bool{}
	for _, k := range keys {
		unique[k] = true
	}
	var mu sync.Mutex
	ok := map[graph.ImageKey]graph.Resolved{}
	failed := map[graph.ImageKey]error{}
	var wg sync.WaitGroup
	for k := range unique {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := resolveImage(ctx, c, k)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed[k] = err
				return
			}
			ok[k] = r
		}()
	}
	wg.Wait()
	return ok, failed
}

func resolveImage(ctx context.Context, c gateway.Client, k graph.ImageKey) (graph.Resolved, error) {
	p, err := platforms.Parse(k.Platform)
	if err != nil {
		return graph.Resolved{}, fmt.Errorf("platform %q: %w", k.Platform, err)
	}
	_, dgst, cfg, err := c.ResolveImageConfig(ctx, k.Ref, sourceresolver.Opt{
		ImageOpt: &sourceresolver.ResolveImageOpt{Platform: &p},
	})
	if err != nil {
		return graph.Resolved{}, err
	}
	return graph.Resolved{Digest: dgst, Config: cfg}, nil
}

// imageCause is the one line for an image that did not resolve.
func imageCause(role, ref string, err error) string {
	return OneLine(fmt.Sprintf("%s %s not found or not authorised: %s", role, ref, FirstLine(err.Error())))
}

// FirstLine is the first line of what a daemon, a registry or an image
// said, made safe by OneLine.
func FirstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return OneLine(s)
}
