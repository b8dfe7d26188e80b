package publish

import (
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/llbgen/llbgen/internal/jsonkeys"
	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/targets"
)

// Labels every published image carries, besides OCI's base-image ones.
const (
	LabelModule  = "io.llbgen.helper.module"
	LabelVersion = "io.llbgen.helper.version"
)

// JobLabels are the labels a job image adds: the helper's module and
// version, and its target image's reference and resolved digest (OCI's
// base-image annotations).
func JobLabels(list *targets.List, t *targets.Target, base digest.Digest) map[string]string {
	l := map[string]string{
		LabelModule:                      targets.HelperModule,
		LabelVersion:                     list.PublishedVersion(),
		ocispecs.AnnotationBaseImageName: t.Image.Full,
	}
	if base != "" {
		l[ocispecs.AnnotationBaseImageDigest] = base.String()
	}
	return l
}

// JobConfig is a job image's config: its target image's, base (as the
// daemon resolved it), with every field kept as it is (USER, ENTRYPOINT,
// ENV, and the Docker fields OCI does not know), labels added, and a
// history entry for the layer llbgen adds. created, when set, is the
// image's creation time.
//
// The base is the target image's, so hostile: a config with keys that
// differ only in case ("labels", "Labels") is refused (jsonkeys.Refuse), since
// which one Docker's case-insensitive decoder reads depends on their order.
func JobConfig(base []byte, labels map[string]string, what string, created *time.Time) ([]byte, error) {
	var img map[string]json.RawMessage
	if err := json.Unmarshal(base, &img); err != nil {
		return nil, fmt.Errorf("reading the target image's config: %w", err)
	}
	if img == nil {
		return nil, fmt.Errorf("reading the target image's config: it is null")
	}
	if err := jsonkeys.Refuse(base, "the target image's config"); err != nil {
		return nil, err
	}
	// The keys written here are taken as Docker reads them, in any
	// case, and written back in one.
	for _, k := range []string{"config", "history", "created"} {
		if raw, ok := jsonkeys.Take(img, k); ok {
			img[k] = raw
		}
	}
	if err := jsonkeys.Refuse(img["config"], "the target image's config's config"); err != nil {
		return nil, err
	}
	var cfg map[string]json.RawMessage
	if raw, ok := img["config"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return nil, fmt.Errorf("reading the target image's config: %w", err)
		}
	}
	if cfg == nil {
		cfg = map[string]json.RawMessage{}
	}
	all := map[string]string{}
	if raw, ok := jsonkeys.Take(cfg, "Labels"); ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &all); err != nil {
			return nil, fmt.Errorf("reading the target image's labels: %w", err)
		}
	}
	if all == nil {
		all = map[string]string{}
	}
	for k, v := range labels {
		all[k] = v
	}
	if err := set(cfg, "Labels", all); err != nil {
		return nil, err
	}
	if err := set(img, "config", cfg); err != nil {
		return nil, err
	}
	var history []map[string]any
	if raw, ok := img["history"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &history); err != nil {
			return nil, fmt.Errorf("reading the target image's history: %w", err)
		}
	}
	h := map[string]any{"created_by": what, "comment": "llbgen"}
	if created != nil {
		h["created"] = created.UTC().Format(time.RFC3339)
		if err := set(img, "created", created.UTC().Format(time.RFC3339)); err != nil {
			return nil, err
		}
	}
	if err := set(img, "history", append(history, h)); err != nil {
		return nil, err
	}
	return json.Marshal(img)
}

func set[V any](m map[string]json.RawMessage, key string, v V) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("writing the image config's %s: %w", key, err)
	}
	m[key] = raw
	return nil
}

// HelpersConfig is the helpers image's config on platform p: nothing to
// run, the helper's labels.
func HelpersConfig(list *targets.List, p ocispecs.Platform, created *time.Time) ([]byte, error) {
	img := ocispecs.Image{
		Platform: ocispecs.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant},
		Config: ocispecs.ImageConfig{Labels: map[string]string{
			LabelModule:                    targets.HelperModule,
			LabelVersion:                   list.PublishedVersion(),
			ocispecs.AnnotationTitle:       "docker-credential-ecr-login binaries",
			ocispecs.AnnotationDescription: "docker-credential-ecr-login " + list.PublishedVersion() + " built by llbgen for each image of its target list (each verified in its image unless the run said otherwise), and SHA256SUMS",
		}},
		RootFS:  ocispecs.RootFS{Type: "layers"},
		History: []ocispecs.History{{CreatedBy: "llbgen: the binaries and " + graph.SumsFile, Comment: "llbgen"}},
	}
	if created != nil {
		t := created.UTC()
		img.Created, img.History[0].Created = &t, &t
	}
	data, err := json.Marshal(img)
	if err != nil {
		return nil, fmt.Errorf("writing the helpers image's config: %w", err)
	}
	return data, nil
}

// JobLayer says where a job image's config.json goes: $HOME/.docker,
// with HOME from the image's ENV, else the home of its USER (root when
// none) in the image's /etc/passwd (passwd, read only then: nil when the
// image has none), else / for root or a uid without an entry, as runc
// sets HOME when Docker starts a container. The file and the directories made for it belong to that user
// (Docker's lookup: a numeric USER is a uid, a name a name; a uid without
// an entry has gid 0), readable by all: it names helpers, no secrets.
func JobLayer(base []byte, credHelpers []string, passwd func() ([]byte, error)) (graph.JobLayer, error) {
	l := graph.JobLayer{Home: "/root", CredHelpers: credHelpers}
	if len(credHelpers) == 0 {
		return l, nil
	}
	if err := jsonkeys.Refuse(base, "the target image's config"); err != nil {
		return l, err
	}
	var img ocispecs.Image
	if err := json.Unmarshal(base, &img); err != nil {
		return l, fmt.Errorf("reading the target image's config: %w", err)
	}
	home := ""
	for _, e := range img.Config.Env {
		if v, ok := strings.CutPrefix(e, "HOME="); ok {
			home = v
		}
	}
	user, group, _ := strings.Cut(img.Config.User, ":")
	root := user == "" || user == "root"
	if id, ok := parseID(user); ok && id == 0 {
		root = true
	}
	if !root || home == "" {
		data, err := passwd()
		if err != nil {
			return l, fmt.Errorf("reading /etc/passwd for USER %q: %w", img.Config.User, err)
		}
		name := user
		if name == "" {
			name = "root"
		}
		e, found := lookupUser(data, name)
		switch {
		case found:
			l.UID, l.GID = e.uid, e.gid
			if home == "" {
				home = e.home
			}
		case root:
		default:
			uid, numeric := parseID(user)
			if !numeric {
				return l, fmt.Errorf("USER %q is not in the image's /etc/passwd, so Docker could not start it; set HOME in the image and fix its USER, or leave publish.credHelpers out", img.Config.User)
			}
			l.UID, l.GID = uid, 0
			if home == "" {
				home = "/" // runc's HOME for a user without an entry
			}
		}
	}
	// A group that is no id is left to the image (Docker would refuse
	// one it cannot find); the user's own group then owns the file.
	if gid, ok := parseID(group); ok {
		l.GID = gid
	}
	if home == "" && root {
		home = "/" // runc's HOME for a user without an entry
	}
	if home == "" {
		return l, fmt.Errorf("USER %q has no home: no HOME in the image's ENV and none in its /etc/passwd, so Docker would find no config.json; set HOME in the image or leave publish.credHelpers out", img.Config.User)
	}
	l.Home = home
	return l, checkHome(home)
}

// checkHome refuses a HOME that is no absolute, clean directory.
func checkHome(home string) error {
	if !strings.HasPrefix(home, "/") || path.Clean(home) != home {
		return fmt.Errorf("HOME %q is no absolute directory for config.json; set HOME in the image or leave publish.credHelpers out", home)
	}
	return nil
}

// passwdEntry is one line of /etc/passwd.
type passwdEntry struct {
	uid, gid int
	home     string
}

// lookupUser finds user in an /etc/passwd as Docker does: a numeric user
// by its uid, a name by its name; the first line that matches and whose
// ids are ids.
func lookupUser(data []byte, user string) (passwdEntry, bool) {
	want, numeric := parseID(user)
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 7 {
			continue
		}
		uid, ok1 := parseID(f[2])
		gid, ok2 := parseID(f[3])
		if !ok1 || !ok2 {
			continue
		}
		if numeric && uid == want || !numeric && f[0] == user {
			return passwdEntry{uid: uid, gid: gid, home: f[5]}, true
		}
	}
	return passwdEntry{}, false
}

// parseID reads a uid or gid: a decimal from 0 to 2^31-1, the ids Docker
// takes.
func parseID(s string) (int, bool) {
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || n < 0 {
		return 0, false
	}
	return int(n), true
}
