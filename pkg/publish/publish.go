// Package publish is what llbgen makes of a list's publish: block: the job
// images (per target, its image plus the verified helper) and the helpers
// image (FROM scratch: every binary and SHA256SUMS), their configs, and the
// gateway result an image exporter turns into one (multi-platform) image.
// llbgen build (pkg/daemon) and the frontend (pkg/frontend) both use it.
package publish

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/containerd/platforms"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/pkg/targets"
)

// HelpersImage is what --publish and the frontend's PUBLISH build argument
// call the helpers image (pkg/targets refuses a target of that name when
// the list has one).
const HelpersImage = "helpers"

// Image is one image a run publishes.
type Image struct {
	Name string // a full reference, with its tag
	// Target is the job image's target; nil for the helpers image.
	Target *targets.Target
	// Binaries are what the image holds: a job image's target's, one per
	// platform; for the helpers image, every binary of the list.
	Binaries []targets.Binary
	// Platforms the image is made for: a job image's, one per binary; the
	// helpers image is the same files for every platform the list builds
	// for, so that COPY --from it works in a build for any of them.
	Platforms []ocispecs.Platform
}

// Helpers reports whether img is the helpers image.
func (img Image) Helpers() bool { return img.Target == nil }

// What names img in messages: "job image of docker_19.03.12" or "helpers image".
func (img Image) What() string {
	if img.Helpers() {
		return "helpers image"
	}
	return "job image of " + img.Target.Name
}

// Images lists what list publishes: its job images, in list order, then
// its helpers image. platformOf says what each binary is built for.
func Images(list *targets.List, platformOf func(targets.Binary) ocispecs.Platform) ([]Image, error) {
	var out []Image
	var every []ocispecs.Platform
	for i := range list.Targets {
		t := &list.Targets[i]
		img := Image{Target: t}
		for _, b := range t.Binaries() {
			p := platforms.Normalize(platformOf(b))
			img.Binaries = append(img.Binaries, b)
			img.Platforms = append(img.Platforms, p)
			if !slices.ContainsFunc(every, func(q ocispecs.Platform) bool { return platforms.Format(q) == platforms.Format(p) }) {
				every = append(every, p)
			}
		}
		name, err := list.JobImageName(*t)
		if err != nil {
			return nil, err
		}
		if name == "" {
			continue
		}
		img.Name = name
		out = append(out, img)
	}
	name, err := list.HelpersImageName()
	if err != nil {
		return nil, err
	}
	if name != "" {
		slices.SortFunc(every, func(a, b ocispecs.Platform) int {
			return cmp.Compare(platforms.Format(a), platforms.Format(b))
		})
		out = append(out, Image{Name: name, Binaries: list.Binaries(), Platforms: every})
	}
	return out, nil
}

// Select keeps the images named by names, each once: target names for job
// images, HelpersImage for the helpers image (a list that has one may not
// name a target so). An unknown name is an error.
func Select(imgs []Image, names []string) ([]Image, error) {
	if len(names) == 0 {
		return imgs, nil
	}
	var out []Image
	for _, n := range names {
		i := slices.IndexFunc(imgs, func(img Image) bool { return img.Helpers() && n == HelpersImage })
		if i < 0 {
			i = slices.IndexFunc(imgs, func(img Image) bool { return !img.Helpers() && img.Target.Name == n })
		}
		if slices.ContainsFunc(out, func(img Image) bool { return i >= 0 && img.Name == imgs[i].Name }) {
			continue
		}
		if i < 0 {
			return nil, fmt.Errorf("no image %q to publish: the list's publish: block names a job image for each target (by target name) and %q for the helpers image", n, HelpersImage)
		}
		out = append(out, imgs[i])
	}
	return out, nil
}
