package daemon

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/solver/pb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/pkg/publish"
	"github.com/llbgen/llbgen/pkg/targets"
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
	Done   string // "pushed", "loaded", "pushed, loaded"; "" when neither
	Cause  string // what failed ("load failed: ...") or why not published, one line; "" when all went
}

// publishImages makes, once the output directory was committed, each
// image of the list whose binaries all landed (a job image: verified in its
// image; the helpers image: every binary of the list written), each push
// or load in a session of its own. An image with a binary that did not
// land is not published, and says which. col explains a failure.
func (s *solve) publishImages(ctx context.Context, ss sessions, col *collector, p *prepared) {
	imgs, err := s.wantedImages(p)
	if err != nil {
		s.images = append(s.images, ImageResult{What: "images", Cause: err.Error()})
		return
	}
	for _, img := range imgs {
		r := ImageResult{Name: img.Name, What: img.What()}
		switch why := s.notReady(img); {
		case why != "":
			r.Cause = "not published: " + why
		case ctx.Err() != nil:
			r.Cause = "not published: the run was canceled"
		default:
			s.publishOne(ctx, ss, col, p, img, &r)
		}
		s.images = append(s.images, r)
	}
}

// wantedImages are the images the run publishes.
func (s *solve) wantedImages(p *prepared) ([]publish.Image, error) {
	imgs, err := publish.Images(p.pl.List, p.pl.PlatformOf)
	if err != nil {
		return nil, err
	}
	return publish.Select(imgs, s.opt.Publish.Images)
}

// notPublished records cause for each image the run publishes that has no
// result yet: the connection for images failed before it got one.
func (s *solve) notPublished(p *prepared, cause string) {
	imgs, err := s.wantedImages(p)
	if err != nil {
		if !slices.ContainsFunc(s.images, func(r ImageResult) bool { return r.What == "images" }) {
			s.images = append(s.images, ImageResult{What: "images", Cause: err.Error()})
		}
		return
	}
	for _, img := range imgs {
		if !slices.ContainsFunc(s.images, func(r ImageResult) bool { return r.Name == img.Name }) {
			s.images = append(s.images, ImageResult{Name: img.Name, What: img.What(), Cause: cause})
		}
	}
}

// landedHash is the sha256 of binary b as it landed in the output
// directory, "" when it did not.
func (s *solve) landedHash(b targets.Binary) string {
	for _, r := range s.results {
		if r.Binary.Name == b.Name && r.Written() {
			return r.SHA256
		}
	}
	return ""
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

// export is one way an image leaves the daemon: pushed, loaded, or both
// (the engine's own exporter stores what it pushes).
type export struct {
	what    string // "push", "load": what failed, when it does
	done    string // "pushed", "loaded", "pushed and stored in Docker"
	entries func() ([]client.ExportEntry, func(error) error, error)
}

// publishOne makes img and pushes or loads it, each in a session of its
// own, so that a failed load does not hide a push that happened: r says
// what was done (with the digest the exporter made) and what failed.
func (s *solve) publishOne(ctx context.Context, ss sessions, col *collector, p *prepared, img publish.Image, r *ImageResult) {
	epoch := s.imageEpoch(p)
	var done, failed []string
	for _, ex := range s.imageExports(ctx, img, epoch) {
		dgst, err := s.exportImage(ctx, ss, p, img, epoch, ex)
		if err != nil {
			failed = append(failed, ex.what+" failed: "+col.explain(s.list, err).cause)
			continue
		}
		done = append(done, ex.done)
		if r.Digest == "" {
			r.Digest = dgst
		}
	}
	r.Done = strings.Join(done, ", ")
	r.Cause = strings.Join(failed, "; ")
}

// exportImage solves img's parts in a session whose exporters are ex's,
// and returns the digest the exporter made.
func (s *solve) exportImage(ctx context.Context, ss sessions, p *prepared, img publish.Image, epoch *int64, ex export) (string, error) {
	entries, wait, err := ex.entries()
	if err != nil {
		return "", err
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
			Hash:     publish.Hasher(ctx, gc, marshal),
			Landed:   s.landedHash,
		}, img)
		if err != nil {
			return nil, err
		}
		return publish.Result(ctx, gc, img, parts)
	}, entries)
	if werr := wait(err); err == nil && werr != nil {
		err = werr
	}
	if err != nil {
		return "", err
	}
	return resp[exptypes.ExporterImageDigestKey], nil
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

// imageExports are the ways img leaves the daemon, each a session of its
// own: on a Docker Engine, its own exporter ("moby"), which stores what it
// makes and pushes it with Push; on a buildkitd, the image exporter for
// Push, and for Load a tarball (docker's, or OCI's for several platforms,
// which docker's exporter cannot hold) streamed into the Docker Engine
// that DOCKER_HOST or the Docker context names, as `docker load`.
func (s *solve) imageExports(ctx context.Context, img publish.Image, epoch *int64) []export {
	attrs := func(more ...string) map[string]string {
		// OCI media types everywhere, so that what is pushed and what is
		// loaded have one digest.
		a := map[string]string{string(exptypes.OptKeyName): img.Name, string(exptypes.OptKeyOCITypes): "true"}
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
	fixed := func(e client.ExportEntry) func() ([]client.ExportEntry, func(error) error, error) {
		return func() ([]client.ExportEntry, func(error) error, error) { return []client.ExportEntry{e}, noWait, nil }
	}
	push := client.ExportEntry{Type: client.ExporterImage, Attrs: attrs(string(exptypes.OptKeyPush), "true")}
	if s.onEngine() {
		push.Type = "moby"
		switch {
		case s.opt.Publish.Push && s.opt.Publish.Load:
			return []export{{what: "push", done: "pushed and loaded", entries: fixed(push)}}
		case s.opt.Publish.Push:
			return []export{{what: "push", done: "pushed and stored in Docker", entries: fixed(push)}}
		}
		return []export{{what: "load", done: "loaded", entries: fixed(client.ExportEntry{Type: "moby", Attrs: attrs()})}}
	}
	var out []export
	if s.opt.Publish.Push {
		out = append(out, export{what: "push", done: "pushed", entries: fixed(push)})
	}
	if s.opt.Publish.Load {
		typ := client.ExporterDocker
		if len(img.Platforms) > 1 {
			typ = client.ExporterOCI
		}
		out = append(out, export{what: "load", done: "loaded", entries: func() ([]client.ExportEntry, func(error) error, error) {
			w, wait, err := loadIntoDocker(ctx)
			if err != nil {
				return nil, nil, err
			}
			// BuildKit closes what Output gives as if all went well, a
			// failed export too: only wait, told the build's error, ends
			// the load, so that a cut tarball is never loaded.
			return []client.ExportEntry{{Type: typ, Attrs: attrs(),
				Output: func(map[string]string) (io.WriteCloser, error) { return keepOpen{w}, nil }}}, wait, nil
		}})
	}
	return out
}

// keepOpen is a writer whose Close does nothing.
type keepOpen struct{ io.Writer }

func (keepOpen) Close() error { return nil }
