package graph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"path"
	"time"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb"

	"github.com/llbgen/llbgen/internal/jsonkeys"
	"github.com/llbgen/llbgen/pkg/targets"
)

// HelperPath is where a job image holds the helper, under the name Docker
// looks for on PATH (credHelpers "ecr-login").
const HelperPath = "/usr/local/bin/docker-credential-ecr-login"

// JobLayer is what a job image adds to its target image.
type JobLayer struct {
	// Home is where config.json goes, as $Home/.docker/config.json, when
	// CredHelpers is set.
	Home string
	// UID and GID own config.json and the directories made for it (the
	// image's USER's).
	UID, GID int
	// CredHelpers are the registries config.json names "ecr-login" for.
	CredHelpers []string
	// Existing is the config.json the target image already has there,
	// or nil: what it says is kept, credHelpers merged in.
	Existing []byte
}

// JobImage is bin's job image: its target image on bin's platform, pinned
// as the graph pulls it, with the delivered (verified) binary at HelperPath
// and, with l.CredHelpers, a Docker config.json naming it for them. The
// target image's layers are kept as they are, and so are the directories
// the addition goes into (their owner and mode): it is one layer on top,
// as a Dockerfile's COPY makes.
func (g *Graph) JobImage(bin targets.Binary, l JobLayer) (llb.State, error) {
	b := g.b
	delivered, ok := g.Delivered[bin.Name]
	if !ok {
		return llb.State{}, fmt.Errorf("%s is not built by this graph", bin.Name)
	}
	p := b.platformOf(bin)
	base, err := b.image(bin.Target.Image, p)
	if err != nil {
		return llb.State{}, fmt.Errorf("target %s: %w", bin.Target.Name, err)
	}
	mark := b.mark(binary(KindImageOut, bin, p), bin.Target.Lines)
	// What the image has at a path llbgen writes is removed first: a
	// symlink there (to the helper, from config.json) would otherwise
	// take the write.
	fa := llb.Rm(HelperPath, llb.WithAllowNotFound(true)).
		Mkdir(path.Dir(HelperPath), 0o755, llb.WithParents(true), llb.WithCreatedTime(b.layerTime())).
		Copy(delivered, "/"+bin.FileName(), HelperPath, &llb.CopyInfo{ChownOpt: rootOwned(), Mode: &llb.ChmodOpt{Mode: 0o755}})
	if len(l.CredHelpers) > 0 {
		if !path.IsAbs(l.Home) || path.Clean(l.Home) != l.Home {
			return llb.State{}, fmt.Errorf("job image of %s: HOME %q is no absolute directory for config.json", bin.Name, l.Home)
		}
		if l.UID < 0 || l.GID < 0 || l.UID > math.MaxUint32 || l.GID > math.MaxUint32 {
			return llb.State{}, fmt.Errorf("job image of %s: owner %d:%d is no uid:gid", bin.Name, l.UID, l.GID)
		}
		cfg, err := MergeDockerConfig(l.Existing, l.CredHelpers)
		if err != nil {
			return llb.State{}, fmt.Errorf("job image of %s: %w", bin.Name, err)
		}
		dir := path.Join(l.Home, ".docker")
		owner := llb.WithUIDGID(l.UID, l.GID)
		file := path.Join(dir, "config.json")
		fa = fa.Rm(file, llb.WithAllowNotFound(true)).
			Mkdir(dir, 0o755, llb.WithParents(true), owner, llb.WithCreatedTime(b.layerTime())).
			Mkfile(file, 0o644, cfg, owner, llb.WithCreatedTime(b.layerTime()))
	}
	return base.File(fa, llb.WithCustomName("job image of "+bin.Name+" ("+platforms.Format(p)+"): the verified helper added"), mark), nil
}

// TargetImage is bin's target image on its platform, as the graph pulls it.
func (g *Graph) TargetImage(bin targets.Binary) (llb.State, error) {
	return g.b.image(bin.Target.Image, g.b.platformOf(bin))
}

// rootOwned is root:root, for the helper in a job image.
func rootOwned() *llb.ChownOpt {
	return &llb.ChownOpt{User: &llb.UserOpt{UID: 0}, Group: &llb.UserOpt{UID: 0}}
}

// layerTime is the time of what a job image's layer creates: the run's
// SOURCE_DATE_EPOCH, or 1970. (A copy into a directory still sets its
// time to now: the exporter's rewrite-timestamp clamps that.)
func (b *builder) layerTime() time.Time {
	if b.opt.SourceDateEpoch != nil {
		return time.Unix(*b.opt.SourceDateEpoch, 0).UTC()
	}
	return time.Unix(0, 0).UTC()
}

// DockerConfig is a Docker config.json that has Docker call
// docker-credential-ecr-login for each of registries.
func DockerConfig(registries []string) ([]byte, error) {
	return MergeDockerConfig(nil, registries)
}

// maxDockerConfig bounds a config.json read from a target image.
const maxDockerConfig = 1 << 20

// MergeDockerConfig is existing (a config.json; nil for none) with
// "ecr-login" as the credential helper of each of registries, and the
// rest of it (auths, credsStore, other helpers, proxies) as it was. One
// with keys that differ only in case is refused (jsonkeys.Refuse), and a
// credHelpers in any case is the one merged into.
func MergeDockerConfig(existing []byte, registries []string) ([]byte, error) {
	cfg := map[string]json.RawMessage{}
	if len(existing) > maxDockerConfig {
		return nil, fmt.Errorf("the image's config.json is %d bytes, more than the %d read", len(existing), maxDockerConfig)
	}
	if len(bytes.TrimSpace(existing)) > 0 {
		if err := json.Unmarshal(existing, &cfg); err != nil || cfg == nil {
			return nil, fmt.Errorf("the image's config.json is no JSON object (%v); fix it, or leave publish.credHelpers out", err)
		}
	}
	if err := jsonkeys.Refuse(existing, "the image's config.json"); err != nil {
		return nil, err
	}
	helpers := map[string]string{}
	if raw, ok := jsonkeys.Take(cfg, "credHelpers"); ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &helpers); err != nil {
			return nil, fmt.Errorf("the image's config.json has credHelpers that are no map of strings (%v); fix it, or leave publish.credHelpers out", err)
		}
	}
	if helpers == nil {
		helpers = map[string]string{}
	}
	for _, r := range registries {
		helpers[r] = "ecr-login"
	}
	raw, err := json.Marshal(helpers)
	if err != nil {
		return nil, fmt.Errorf("writing config.json: %w", err)
	}
	cfg["credHelpers"] = raw
	data, err := json.MarshalIndent(cfg, "", "\t")
	if err != nil {
		return nil, fmt.Errorf("writing config.json: %w", err)
	}
	return append(data, '\n'), nil
}
