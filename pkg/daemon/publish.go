package daemon

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/solver/pb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/pkg/publish"
)

// Publish says what a run does with the images its list's publish: block
// names. With neither Push nor Load, nothing leaves the daemon but the
// output directory.
type Publish struct {
	Push bool // push each image to its registry
	Load bool // load each image into Docker (the engine built on, or DOCKER_HOST's)
	// Images selects by target name (job images) and publish.HelpersImage;
	// empty means every image the list names.
	Images []string
}

// Wanted reports whether images are made at all.
func (p Publish) Wanted() bool { return p.Push || p.Load }

// ImageResult is what happened to one image.
type ImageResult struct {
	Name   string // the reference it was published under
	What   string // "job image of docker_19.03.12", "helpers image"
	Digest string // the manifest (or index) digest the exporter made
	Done   string // "pushed", "loaded", "pushed and loaded"; "" when not published
	Cause  string // why not, one line
}

// publishImages makes, after every binary session, each image of the
// list whose binaries all landed (a job image: verified in its image; the
// helpers image: every binary of the list written), in a session of its own
// whose exporters push or load it. An image with a binary that did not
// land is not published, and says which.
func (s *solve) publishImages(ctx context.Context, ss sessions, p *prepared) {
	imgs, err := publish.Images(p.pl.List, p.pl.PlatformOf)
	if err == nil {
		imgs, err = publish.Select(imgs, s.opt.Publish.Images)
	}
	if err != nil {
		s.images = append(s.images, ImageResult{What: "images", Cause: err.Error()})
		return
	}
	for _, img := range imgs {
		r := ImageResult{Name: img.Name, What: img.What()}
		if why := s.notReady(img); why != "" {
			r.Cause = "not published: " + why
			s.images = append(s.images, r)
			continue
		}
		if ctx.Err() != nil || s.lostConnection() != nil {
			r.Cause = "not published: the run was stopped"
			s.images = append(s.images, r)
			continue
		}
		dgst, done, err := s.publishOne(ctx, ss, p, img)
		if err != nil {
			r.Cause = "publishing failed: " + s.col.explain(s.list, err).cause
		} else {
			r.Digest, r.Done = dgst, done
		}
		s.images = append(s.images, r)
	}
}

// notReady says why img cannot be published, or "".
func (s *solve) notReady(img publish.Image) string {
	var bad []string
	for _, b := range img.Binaries {
		for _, r := range s.results {
			if r.Binary.Name != b.Name {
				continue
			}
			switch {
			case !r.Written():
				bad = append(bad, b.Name+" failed")
			case !img.Helpers() && !r.Verified:
				bad = append(bad, b.Name+" was not verified in its image")
			}
		}
	}
	if len(bad) == 0 {
		return ""
	}
	if len(bad) > 3 {
		bad = append(bad[:3], fmt.Sprintf("and %d more", len(bad)-3))
	}
	return strings.Join(bad, ", ")
}

// publishOne makes img in a session whose exporters push or load it, and
// returns the digest the exporter made and what was done.
func (s *solve) publishOne(ctx context.Context, ss sessions, p *prepared, img publish.Image) (string, string, error) {
	epoch := s.imageEpoch(p)
	exports, done, wait, err := s.imageExports(ctx, img, epoch)
	if err != nil {
		return "", "", err
	}
	resp, err := ss.exportSession(ctx, func(ctx context.Context, gc gateway.Client) (*gateway.Result, error) {
		marshal := func(st llb.State, pf ocispecs.Platform) (*pb.Definition, error) {
			return s.definitionFor(ctx, func() (llb.State, error) { return st, nil }, pf)
		}
		parts, err := publish.Parts(publish.Inputs{
			List:     p.pl.List,
			Graph:    p.g,
			Images:   p.pl.Graph.Images,
			Epoch:    epoch,
			Marshal:  marshal,
			ReadFile: publish.FileReader(ctx, gc, marshal),
		}, img)
		if err != nil {
			return nil, err
		}
		return publish.Result(ctx, gc, img, parts)
	}, exports)
	if werr := wait(err); err == nil && werr != nil {
		err = werr
	}
	if err != nil {
		return "", "", err
	}
	return resp[exptypes.ExporterImageDigestKey], done, nil
}

// imageEpoch dates the images: SOURCE_DATE_EPOCH, else the binaries' own
// time (the helper version's, from the module proxy), so that the same
// binaries make the same layers.
func (s *solve) imageEpoch(p *prepared) *int64 {
	if e := p.pl.Graph.SourceDateEpoch; e != nil {
		return e
	}
	for _, r := range s.results {
		if r.Written() && !r.Time.IsZero() {
			t := r.Time.Unix()
			return &t
		}
	}
	return nil
}

// onEngine reports whether the run builds on a Docker Engine's BuildKit,
// whose image exporter ("moby") stores into the engine.
func (s *solve) onEngine() bool {
	_, ok := DockerHost(s.opt.Addr)
	return ok
}

// imageExports are the exporters of img: the image exporter with push
// (the engine's own, "moby", on Docker), and for Load, the engine's image
// store or, on a standalone daemon, a docker tarball streamed into
// DOCKER_HOST's engine. wait is called with the session's error and
// returns the load's.
func (s *solve) imageExports(ctx context.Context, img publish.Image, epoch *int64) ([]client.ExportEntry, string, func(error) error, error) {
	attrs := func(more ...string) map[string]string {
		a := map[string]string{string(exptypes.OptKeyName): img.Name}
		if epoch != nil {
			a["source-date-epoch"] = strconv.FormatInt(*epoch, 10)
			// The engine's exporter unpacks what it stores, which
			// BuildKit does not do with rewritten layers: there the
			// directories the helper goes into keep the build's time.
			if !s.onEngine() {
				a[string(exptypes.OptKeyRewriteTimestamp)] = "true"
			}
		}
		for i := 0; i+1 < len(more); i += 2 {
			a[more[i]] = more[i+1]
		}
		return a
	}
	noWait := func(error) error { return nil }
	imageType := client.ExporterImage
	if s.onEngine() {
		imageType = "moby"
	}
	var exports []client.ExportEntry
	var done []string
	switch {
	case s.opt.Publish.Push:
		exports = append(exports, client.ExportEntry{Type: imageType, Attrs: attrs(string(exptypes.OptKeyPush), "true")})
		done = append(done, "pushed")
		if s.opt.Publish.Load && s.onEngine() {
			done = append(done, "loaded") // the engine's exporter stores it too
		}
	case s.opt.Publish.Load && s.onEngine():
		exports = append(exports, client.ExportEntry{Type: imageType, Attrs: attrs()})
		done = append(done, "loaded")
	}
	wait := noWait
	if s.opt.Publish.Load && !s.onEngine() {
		w, waitLoad, err := loadIntoDocker(ctx)
		if err != nil {
			return nil, "", nil, err
		}
		exports = append(exports, client.ExportEntry{Type: client.ExporterDocker, Attrs: attrs(),
			Output: func(map[string]string) (io.WriteCloser, error) { return w, nil }})
		done = append(done, "loaded")
		wait = waitLoad
	}
	return exports, strings.Join(done, " and "), wait, nil
}
