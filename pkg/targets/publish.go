package targets

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/distribution/reference"
)

// Publish is the list's publish: block; zero when the list has none.
type Publish struct {
	Images      string   // job image name template; "" for none
	Helpers     string   // helpers image name template; "" for none
	CredHelpers []string // registries (host[:port]) whose credHelpers entry is "ecr-login"

	ImagesPos, HelpersPos, CredHelpersPos Pos   // where each value is written
	Lines                                 Lines // the publish: key and its value

	hostPos []Pos // where each of CredHelpers is written; nil when not from a file
}

// The placeholders of the name templates.
const (
	phName    = "{name}"    // the target's name
	phRepo    = "{repo}"    // its image's repository path, without docker.io's domain and library/
	phTag     = "{tag}"     // its image's tag
	phVersion = "{version}" // the helper version
)

var (
	imagesPlaceholders  = []string{phName, phRepo, phTag, phVersion}
	helpersPlaceholders = []string{phVersion}
	// placeholder is anything a template writes between braces.
	placeholder = regexp.MustCompile(`\{[^{}]*\}`)
	// hostOnly is a registry host[:port] by distribution/reference's rules.
	hostOnly = regexp.MustCompile(`^(?:` + reference.DomainRegexp.String() + `)$`)
)

// Examples messages suggest.
const (
	exampleImages  = "registry.example.com/ci/{repo}:{tag}-ecr-login"
	exampleHelpers = "registry.example.com/ci/ecr-login-helpers:{version}"
	exampleHost    = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
)

// JobImageName is the name t's job image is published as: the images
// template rendered for t and normalized (docker.io/..., :latest added when
// it gives no tag). It is "" with a nil error when the list publishes no
// job images; a refusal is an *Error at Publish.ImagesPos.
func (l *List) JobImageName(t Target) (string, error) {
	if l.Publish.Images == "" {
		return "", nil
	}
	vals, err := l.targetValues(t)
	if err != nil {
		return "", err
	}
	name, e := render("publish.images", l.Publish.Images, l.Publish.ImagesPos, imagesPlaceholders, vals, " for "+l.describe(t), exampleImages)
	if e != nil {
		return "", e
	}
	return name, nil
}

// HelpersImageName is the name the helpers image is published as, as
// JobImageName is for a job image; "" with a nil error when the list
// publishes none.
func (l *List) HelpersImageName() (string, error) {
	if l.Publish.Helpers == "" {
		return "", nil
	}
	vals := map[string]string{phVersion: l.PublishedVersion()}
	name, e := render("publish.helpers", l.Publish.Helpers, l.Publish.HelpersPos, helpersPlaceholders, vals, "", exampleHelpers)
	if e != nil {
		return "", e
	}
	return name, nil
}

// PublishedVersion is the version of the helper a list publishes: its one
// helper, ecr-login (checkPublish refuses publishing any other).
func (l *List) PublishedVersion() string {
	if len(l.Helpers) == 0 {
		return ""
	}
	return l.Helpers[0].Version
}

// CheckPublish refuses a publish block that cannot name every image it
// publishes: a template with an unknown placeholder, one that gives no
// valid reference or a digest for some target, two targets given one job
// image, a helpers image named as a job image, or a credHelpers entry that
// is no registry host. It returns an ErrorList, nil when all is well.
// Parse calls it, and SetHelperVersion again, as {version} changes.
func (l *List) CheckPublish() error {
	var errs ErrorList
	l.checkPublish(&errs, true)
	return errs.err()
}

// checkPublish adds the publish block's refusals to errs; the names are
// rendered only when render is set and the templates themselves are sound.
func (l *List) checkPublish(errs *ErrorList, render bool) {
	p := &l.Publish
	before := len(*errs)
	if (p.Images != "" || p.Helpers != "") && (len(l.Helpers) != 1 || l.Helpers[0].FileName() != DefaultHelper) {
		at := p.ImagesPos
		if p.Images == "" {
			at = p.HelpersPos
		}
		errs.add(at, "publish makes images of %s binaries only, and this list builds %s; remove publish: and copy the binaries from the output directory into your images", DefaultHelper, strings.Join(l.helperNames(), ", "))
		return
	}
	checkTemplate(errs, "publish.images", p.Images, p.ImagesPos, imagesPlaceholders,
		"write only "+strings.Join(imagesPlaceholders, ", "))
	checkTemplate(errs, "publish.helpers", p.Helpers, p.HelpersPos, helpersPlaceholders,
		"the helpers image is one for all targets, so write only "+phVersion)
	p.checkCredHelpers(errs)
	if render && len(*errs) == before {
		l.checkNames(errs)
	}
}

// checkTemplate refuses a template that is too long or has a placeholder
// not in allowed; hint says which to write instead.
func checkTemplate(errs *ErrorList, what, tmpl string, p Pos, allowed []string, hint string) {
	if len(tmpl) > MaxImageRefBytes {
		errs.add(p, "%s is %d bytes, more than the %d allowed: %s; %s", what, len(tmpl), MaxImageRefBytes, Quote(tmpl), refLimit.hint)
		return
	}
	seen := map[string]bool{}
	for _, ph := range placeholder.FindAllString(tmpl, -1) {
		if !slices.Contains(allowed, ph) && !seen[ph] {
			seen[ph] = true
			errs.add(p, "%s has %s, which is no placeholder here; %s", what, Quote(ph), hint)
		}
	}
	if len(seen) > 0 {
		return
	}
	// Capitals the template itself writes in a repository path fail every
	// name it gives (no value brings a ':' that would move them into the
	// tag), so they are refused once, not once per target.
	sample := placeholder.ReplaceAllLiteralString(tmpl, "x")
	if _, err := reference.ParseNormalizedNamed(sample); isUppercase(err) {
		errs.add(p, "%s %s has capitals in its repository path, which must be lower-case; write the path in lower case", what, Quote(tmpl))
	}
}

// isUppercase reports whether err refuses capitals in a repository path;
// ParseNormalizedNamed says so in words only.
func isUppercase(err error) bool {
	return errors.Is(err, reference.ErrNameContainsUppercase) || err != nil && strings.HasSuffix(err.Error(), "must be lowercase")
}

// checkCredHelpers refuses credHelpers without images, entries that are no
// registry host[:port], and entries written twice.
func (p *Publish) checkCredHelpers(errs *ErrorList) {
	if len(p.CredHelpers) == 0 {
		return
	}
	if p.Images == "" {
		errs.add(p.CredHelpersPos, "publish.credHelpers is written into the job images' config.json, and publish has no images; add `images: %s` or remove credHelpers", exampleImages)
	}
	if len(p.CredHelpers) > MaxCredHelpers {
		errs.add(p.CredHelpersPos, "publish.credHelpers has %d entries, more than the %d allowed; list only the registries the jobs pull from", len(p.CredHelpers), MaxCredHelpers)
		return
	}
	first := map[string]Pos{}
	for i, h := range p.CredHelpers {
		at := p.CredHelpersPos
		if i < len(p.hostPos) {
			at = p.hostPos[i]
		}
		what := fmt.Sprintf("publish.credHelpers[%d]", i)
		switch {
		case h == "":
			errs.add(at, "%s is empty; write a registry host, e.g. %s, or remove the entry", what, exampleHost)
		case len(h) > MaxValueBytes:
			errs.add(at, "%s is %d bytes, more than the %d allowed: %s; %s", what, len(h), MaxValueBytes, Quote(h), valueLimit.hint)
		case strings.Contains(h, "://"):
			errs.add(at, "%s %s has a scheme; write the registry's host[:port] alone, e.g. %s", what, Quote(h), exampleHost)
		case strings.Contains(h, "/"):
			errs.add(at, "%s %s has a path; credential helpers are chosen by registry, so write its host[:port] alone, e.g. %s", what, Quote(h), exampleHost)
		case !hostOnly.MatchString(h):
			errs.add(at, "%s %s is not a registry host[:port]; write one, e.g. %s", what, Quote(h), exampleHost)
		default:
			if f, ok := first[h]; ok {
				errs.add(at, "%s: %s is listed twice (first at line %d); keep one", what, Quote(h), f.Line)
				continue
			}
			first[h] = at
		}
	}
}

// checkNames renders every name the list publishes and refuses those that
// are no image reference, a name an image the list builds from has (a
// target's, the go image: a push would replace it, and a later run would
// build from what the push left), two targets given one job image, and a
// helpers image named as a job image.
func (l *List) checkNames(errs *ErrorList) {
	p := &l.Publish
	used := l.usedImages()
	byName := map[string][]int{} // job image name: the targets given it
	var order []string           // the names, in the order first given
	if p.Images != "" {
		for i, t := range l.Targets {
			name, err := l.JobImageName(t)
			if err != nil {
				addErr(errs, err)
				continue
			}
			if t.Name == helpersWord && p.Helpers != "" {
				errs.add(t.namePosOr(), "%s is named %s, the word --publish and PUBLISH use for the helpers image; name the target otherwise", l.describe(t), helpersWord)
			}
			key := pushKey(name)
			if whose, ok := used[key]; ok {
				errs.add(p.ImagesPos, "publish.images gives %s for %s, which is %s: a push would replace it; name the job images apart, e.g. with a registry of your own and a tag suffix: registry.example.com/ci/{repo}:{tag}-ecr-login", name, l.describe(t), whose)
				continue
			}
			if len(byName[key]) == 0 {
				order = append(order, key)
			}
			byName[key] = append(byName[key], i)
		}
	}
	for _, key := range order {
		if ts := byName[key]; len(ts) > 1 {
			name, _ := l.JobImageName(l.Targets[ts[0]])
			errs.add(p.ImagesPos, "%s publish %s; put %s in publish.images so that each target has its own image", l.describeAll(ts), name, phName)
		}
	}
	helpers, err := l.HelpersImageName()
	switch {
	case err != nil:
		addErr(errs, err)
	case helpers == "":
	case used[pushKey(helpers)] != "":
		errs.add(p.HelpersPos, "publish.helpers gives %s, which is %s: a push would replace it; give the helpers image a name of its own, e.g. registry.example.com/ci/ecr-login-helpers:{version}", helpers, used[pushKey(helpers)])
	case len(byName[pushKey(helpers)]) > 0:
		errs.add(p.HelpersPos, "publish.helpers gives %s, as publish.images does for %s; give the helpers image a name of its own", helpers, l.describe(l.Targets[byName[pushKey(helpers)][0]]))
	}
}

// usedImages are the images the list builds from, by the name a push to
// them would take (tagged; an image named by digest alone cannot be
// replaced by a tag): each target's image and the go image, saying whose.
func (l *List) usedImages() map[string]string {
	used := map[string]string{}
	add := func(full, whose string) {
		named, err := reference.ParseNormalizedNamed(full)
		if err != nil {
			return
		}
		tagged, ok := named.(reference.Tagged)
		if !ok {
			if _, digested := named.(reference.Digested); digested {
				return
			}
			named = reference.TagNameOnly(named)
			tagged = named.(reference.Tagged)
		}
		name := pushKey(reference.TrimNamed(named).String() + ":" + tagged.Tag())
		if _, seen := used[name]; !seen {
			used[name] = whose
		}
	}
	for _, t := range l.Targets {
		add(t.Image.Full, "the image "+l.describe(t)+" is built from")
	}
	add(l.Go.Full, "the go image")
	return used
}

// pushKey is the image a push to name (normalized, tagged) replaces: a
// registry's host name is the same in any case (and Docker Hub's aliases
// one registry once lower-case), its repository path is lower-case already.
func pushKey(name string) string {
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return name
	}
	key := strings.ToLower(reference.Domain(named)) + "/" + reference.Path(named)
	if tagged, ok := named.(reference.Tagged); ok {
		key += ":" + tagged.Tag()
	}
	if again, err := reference.ParseNormalizedNamed(key); err == nil {
		key = again.String()
	}
	return key
}

// helpersWord names the helpers image where a target's name names its job
// image (llbgen build --publish, the frontend's PUBLISH).
const helpersWord = "helpers"

// addErr records err, an *Error from rendering a name, in errs.
func addErr(errs *ErrorList, err error) {
	var e *Error
	if errors.As(err, &e) {
		*errs = append(*errs, e)
		return
	}
	errs.add(Pos{}, "%v", err)
}

// targetValues are the placeholders' values for t.
func (l *List) targetValues(t Target) (map[string]string, error) {
	ref := t.Image.Full
	if ref == "" {
		ref = t.Image.Ref
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, &Error{Pos: t.Image.Pos, Msg: fmt.Sprintf("image %s of %s: %v; publish.images names job images after it", Quote(ref), l.describe(t), err)}
	}
	return map[string]string{
		phName:    t.Name,
		phRepo:    repoOf(named),
		phTag:     tagOf(named),
		phVersion: l.PublishedVersion(),
	}, nil
}

// repoOf is named's repository path without its domain, and without
// docker.io's library/: docker, gitlab/gitlab-runner, a/b.
func repoOf(named reference.Named) string {
	if reference.Domain(named) == "docker.io" {
		return reference.FamiliarName(reference.TrimNamed(named))
	}
	return reference.Path(named)
}

// tagOf is named's tag; "latest" when it has none, and ALGORITHM-HEX12 of
// its digest when it has only a digest.
func tagOf(named reference.Named) string {
	if t, ok := named.(reference.Tagged); ok {
		return t.Tag()
	}
	if d, ok := named.(reference.Digested); ok {
		hex := d.Digest().Encoded()
		return string(d.Digest().Algorithm()) + "-" + hex[:min(12, len(hex))]
	}
	return "latest"
}

// render fills tmpl's placeholders from vals and normalizes the result.
// what names the template in messages, at p; whom says for which target
// (" for targets[0] (x)", or "").
func render(what, tmpl string, p Pos, allowed []string, vals map[string]string, whom, example string) (string, *Error) {
	refuse := func(format string, args ...any) (string, *Error) {
		var errs ErrorList
		errs.add(p, format, args...)
		return "", errs[0]
	}
	spans := placeholder.FindAllStringIndex(tmpl, -1)
	size := len(tmpl)
	for _, s := range spans {
		ph := tmpl[s[0]:s[1]]
		if !slices.Contains(allowed, ph) {
			return refuse("%s has %s, which is no placeholder here; write only %s", what, Quote(ph), strings.Join(allowed, ", "))
		}
		size += len(vals[ph]) - len(ph)
	}
	// Counted before it is built: a template of many placeholders could
	// otherwise build names of tens of KB for each of many targets.
	if size > MaxImageRefBytes {
		return refuse("%s gives a name of %d bytes%s, more than the %d an image reference may have; use fewer placeholders", what, size, whom, MaxImageRefBytes)
	}
	var b strings.Builder
	b.Grow(size)
	last := 0
	for _, s := range spans {
		b.WriteString(tmpl[last:s[0]])
		b.WriteString(vals[tmpl[s[0]:s[1]]])
		last = s[1]
	}
	b.WriteString(tmpl[last:])
	name := b.String()
	named, err := reference.ParseNormalizedNamed(name)
	switch {
	case isUppercase(err):
		return refuse("%s gives %s%s, which is not an image reference: %v; %s", what, Quote(name), whom, err, lowerHint(tmpl, vals))
	case err != nil && strings.Contains(tmpl, phVersion) && strings.Contains(vals[phVersion], "+"):
		return refuse("%s gives %s%s, which is not an image reference: %v; a tag cannot hold the '+' of version %s, so leave %s out", what, Quote(name), whom, err, Quote(vals[phVersion]), phVersion)
	case err != nil:
		return refuse("%s gives %s%s, which is not an image reference: %v; write a template that gives a name `docker push` takes, e.g. %s", what, Quote(name), whom, err, example)
	}
	if _, ok := named.(reference.Digested); ok {
		return refuse("%s gives %s%s, with a digest; images are published by tag, so write a tag (or none, for :latest) instead of @DIGEST", what, Quote(name), whom)
	}
	return reference.TagNameOnly(named).String(), nil
}

// lowerHint says what to do about capitals in a rendered repository path:
// which placeholders before the tag bring them.
func lowerHint(tmpl string, vals map[string]string) string {
	path := tmpl
	if slash := strings.LastIndex(tmpl, "/"); strings.LastIndex(tmpl, ":") > slash {
		path = tmpl[:strings.LastIndex(tmpl, ":")]
	}
	var culprits []string
	for _, ph := range placeholder.FindAllString(path, -1) {
		c := fmt.Sprintf("%s is %s", ph, Quote(vals[ph]))
		if v := vals[ph]; v != strings.ToLower(v) && !slices.Contains(culprits, c) {
			culprits = append(culprits, c)
		}
	}
	if len(culprits) == 0 {
		return "write the template's repository path in lower case"
	}
	hint := "an image's repository path is lower-case, and " + strings.Join(culprits, ", ") +
		"; move it into the tag (after the last ':')"
	if slices.ContainsFunc(culprits, func(c string) bool { return strings.HasPrefix(c, phName) }) {
		hint += ", or set a lower-case `name:` on the target"
	}
	return hint
}

// describe names t in messages: targets[1] (runner-cgo), or --image 2 (x)
// for a target from flags.
func (l *List) describe(t Target) string {
	i := slices.IndexFunc(l.Targets, func(o Target) bool { return o.Name == t.Name })
	switch {
	case t.Pos.File == flagFile:
		return fmt.Sprintf("--image %d (%s)", t.Pos.Line, t.Name)
	case i < 0:
		return fmt.Sprintf("target %s", Quote(t.Name))
	}
	return fmt.Sprintf("targets[%d] (%s)", i, t.Name)
}

// describeAll names the targets ts of l, two or more, as the subject of
// a verb: "A and B would both", "A, B and 3 more would all".
func (l *List) describeAll(ts []int) string {
	a, b := l.describe(l.Targets[ts[0]]), l.describe(l.Targets[ts[1]])
	if len(ts) == 2 {
		return a + " and " + b + " would both"
	}
	return fmt.Sprintf("%s, %s and %d more would all", a, b, len(ts)-2)
}
