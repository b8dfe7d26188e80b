package publish

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"time"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/targets"
)

// Inputs are what making an image's parts takes besides the image.
type Inputs struct {
	List  *targets.List
	Graph *graph.Graph
	// Images are the images the daemon resolved (graph.Options.Images):
	// a job image's config starts from its target image's.
	Images map[graph.ImageKey]graph.Resolved
	// Epoch, when set, dates the images (SOURCE_DATE_EPOCH).
	Epoch *int64
	// Marshal makes a state's definition for a platform.
	Marshal func(st llb.State, p ocispecs.Platform) (*pb.Definition, error)
	// ReadFile reads a file of a state (solved on platform p); nil when
	// it is not there. A job image's config.json goes to its user's home,
	// read from its /etc/passwd.
	ReadFile func(st llb.State, p ocispecs.Platform, name string) ([]byte, error)
	// Hash is the sha256 (hex) of a regular file of a state; a job image
	// is made only when its helper has the landed binary's.
	Hash func(st llb.State, p ocispecs.Platform, name string) (string, error)
	// Landed is the sha256 (hex) of a binary as it landed in the output
	// directory, "" when not known there: then the delivered binary is
	// hashed.
	Landed func(targets.Binary) string
}

// Parts makes img's parts: per platform, a job image's target image with
// its verified binary (graph.JobImage), or the helpers image's binaries
// and SHA256SUMS (the graph's output), and the config of each.
func Parts(in Inputs, img Image) ([]Part, error) {
	var created *time.Time
	if in.Epoch != nil {
		t := time.Unix(*in.Epoch, 0).UTC()
		created = &t
	}
	var parts []Part
	for i, p := range img.Platforms {
		var st llb.State
		var cfg, baseCfg []byte
		if img.Helpers() {
			var err error
			st = in.Graph.Output
			if cfg, err = HelpersConfig(in.List, p, created); err != nil {
				return nil, err
			}
		} else {
			bin := img.Binaries[i]
			if why, ok := in.Graph.Unverified[bin.Name]; ok {
				return nil, fmt.Errorf("%s: %s was %s, and a job image holds only a binary verified in it", img.What(), bin.Name, why)
			}
			r, ok := in.Images[graph.ImageKey{Ref: bin.Target.Image.Full, Platform: platforms.Format(p)}]
			if !ok || len(r.Config) == 0 {
				return nil, fmt.Errorf("%s: the config of %s for %s was not resolved", img.What(), bin.Target.Image.Ref, platforms.Format(p))
			}
			baseCfg = r.Config
			layer, err := JobLayer(r.Config, in.List.Publish.CredHelpers, func() ([]byte, error) {
				base, err := in.Graph.TargetImage(bin)
				if err != nil {
					return nil, err
				}
				return in.ReadFile(base, p, "/etc/passwd")
			})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", img.What(), err)
			}
			if len(layer.CredHelpers) > 0 {
				base, err := in.Graph.TargetImage(bin)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", img.What(), err)
				}
				if layer.Existing, err = in.ReadFile(base, p, path.Join(layer.Home, ".docker", "config.json")); err != nil {
					return nil, fmt.Errorf("%s: reading the image's config.json: %w", img.What(), err)
				}
			}
			if st, err = in.Graph.JobImage(bin, layer); err != nil {
				return nil, fmt.Errorf("%s: %w", img.What(), err)
			}
			if err := checkJobImage(in, bin, p, st, layer); err != nil {
				return nil, fmt.Errorf("%s (%s): %w", img.What(), platforms.Format(p), err)
			}
			what := "llbgen: " + graph.HelperPath + " " + in.List.PublishedVersion() + ", verified in this image"
			if len(layer.CredHelpers) > 0 {
				what += ", and " + layer.Home + "/.docker/config.json"
			}
			if cfg, err = JobConfig(r.Config, JobLabels(in.List, img.Target, r.Digest), what, created); err != nil {
				return nil, fmt.Errorf("%s: %w", img.What(), err)
			}
		}
		def, err := in.Marshal(st, p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", img.What(), err)
		}
		parts = append(parts, Part{Platform: p, Definition: def, Config: cfg, BaseConfig: baseCfg})
	}
	return parts, nil
}

// checkJobImage reads back what a job image holds where llbgen wrote: the
// helper must be the binary that landed, config.json what was written.
// The target image's own files (a symlinked directory on the way, say)
// could otherwise have displaced one with the other. Any other failure
// (a lost connection, a canceled run) is returned as it is.
func checkJobImage(in Inputs, bin targets.Binary, p ocispecs.Platform, st llb.State, l graph.JobLayer) error {
	want := ""
	if in.Landed != nil {
		want = in.Landed(bin)
	}
	if want == "" {
		var err error
		if want, err = in.Hash(in.Graph.Delivered[bin.Name], p, "/"+bin.FileName()); err != nil {
			return fmt.Errorf("reading the delivered binary: %w", err)
		}
	}
	got, err := in.Hash(st, p, graph.HelperPath)
	switch {
	case err != nil && !displaced(err):
		return fmt.Errorf("reading back %s: %w", graph.HelperPath, err)
	case err != nil || got != want:
		return fmt.Errorf("%s is not the verified binary once written there (%s): the image's own files at that path or HOME's displaced it; fix the image", graph.HelperPath, errOr(err, "another file"))
	}
	if len(l.CredHelpers) == 0 {
		return nil
	}
	wantCfg, err := graph.MergeDockerConfig(l.Existing, l.CredHelpers)
	if err != nil {
		return err
	}
	name := path.Join(l.Home, ".docker", "config.json")
	gotCfg, err := in.ReadFile(st, p, name)
	switch {
	case err != nil && !displaced(err):
		return fmt.Errorf("reading back %s: %w", name, err)
	case err == nil && gotCfg == nil:
		err = errors.New("no such file")
	}
	if err != nil || !bytes.Equal(gotCfg, wantCfg) {
		return fmt.Errorf("%s is not the config.json written there (%s): the image's own files at that path or the helper's displaced it; fix the image", name, errOr(err, "another file"))
	}
	return nil
}

// ErrNotRegular is Hash's and ReadFile's error for a path that holds no
// regular file of the size read.
var ErrNotRegular = errors.New("no regular file")

// displaced reports whether err, from reading a file back, says the path
// holds something else: no file, or no regular one.
func displaced(err error) bool {
	return errors.Is(err, ErrNotRegular) || errors.Is(err, fs.ErrNotExist) || absent(err)
}

// errOr is err's text, or what when err is nil.
func errOr(err error, what string) string {
	if err != nil {
		return err.Error()
	}
	return what
}
