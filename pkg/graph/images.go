package graph

import (
	"sort"

	"github.com/containerd/platforms"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/pkg/targets"
)

// Images lists every image the graph of list uses when the daemon's
// platform is def and targets that name no platforms are built for target
// (zero: def): the toolchain on def first, then, sorted, the toolchain on
// each other platform a cgo target compiles on, and every target's image on
// each of its platforms. Each once.
func Images(list *targets.List, def ocispecs.Platform, target ...ocispecs.Platform) []ImageKey {
	def = platforms.Normalize(def)
	tdef := def
	if len(target) > 0 && target[0].OS != "" {
		tdef = platforms.Normalize(target[0])
	}
	first := ImageKey{Ref: list.Go.Full, Platform: platforms.Format(def)}
	seen := map[ImageKey]bool{first: true}
	var rest []ImageKey
	add := func(k ImageKey) {
		if !seen[k] {
			seen[k] = true
			rest = append(rest, k)
		}
	}
	for _, bin := range list.Binaries() {
		p := tdef
		if bin.Platform != nil {
			p = *bin.Platform
		}
		add(ImageKey{Ref: bin.Target.Image.Full, Platform: platforms.Format(p)})
		if bin.Cgo() {
			add(ImageKey{Ref: list.Go.Full, Platform: platforms.Format(p)})
		}
	}
	sort.Slice(rest, func(i, j int) bool {
		if rest[i].Ref != rest[j].Ref {
			return rest[i].Ref < rest[j].Ref
		}
		return rest[i].Platform < rest[j].Platform
	})
	return append([]ImageKey{first}, rest...)
}
