package graph

import (
	"encoding/json"
	"fmt"
	"path"
	"time"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb"

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
	fa := llb.Mkdir(path.Dir(HelperPath), 0o755, llb.WithParents(true), llb.WithCreatedTime(b.layerTime())).
		Copy(delivered, "/"+bin.FileName(), HelperPath, &llb.CopyInfo{ChownOpt: rootOwned(), Mode: &llb.ChmodOpt{Mode: 0o755}})
	if len(l.CredHelpers) > 0 {
		cfg, err := DockerConfig(l.CredHelpers)
		if err != nil {
			return llb.State{}, err
		}
		dir := path.Join(l.Home, ".docker")
		owner := llb.WithUIDGID(l.UID, l.GID)
		fa = fa.Mkdir(dir, 0o755, llb.WithParents(true), owner, llb.WithCreatedTime(b.layerTime())).
			Mkfile(path.Join(dir, "config.json"), 0o644, cfg, owner, llb.WithCreatedTime(b.layerTime()))
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
	helpers := map[string]string{}
	for _, r := range registries {
		helpers[r] = "ecr-login"
	}
	data, err := json.MarshalIndent(map[string]any{"credHelpers": helpers}, "", "\t")
	if err != nil {
		return nil, fmt.Errorf("writing config.json: %w", err)
	}
	return append(data, '\n'), nil
}
