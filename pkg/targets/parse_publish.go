package targets

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// publish decodes the publish block: its shape and lengths. What the
// templates and hosts say is checked by checkPublish, once the targets are
// read. A block that names no image, once its refusals are made, is zero.
func (d *decoder) publish(v field) Publish {
	example := fmt.Sprintf("`publish: {images: %q}`", exampleImages)
	if isNull(resolve(v.value)) {
		d.errs.add(d.pos(v.key), "publish is empty; name the images to publish, e.g. %s, or remove it", example)
		return Publish{}
	}
	f, ok := d.fields(v.value, "publish", "publish must be a mapping; write it as "+example, publishKeys...)
	if !ok {
		return Publish{}
	}
	var p Publish
	images, imagesOK := d.template(f, "images", exampleImages)
	p.Images, p.ImagesPos = images.s, images.p
	helpers, helpersOK := d.template(f, "helpers", exampleHelpers)
	p.Helpers, p.HelpersPos = helpers.s, helpers.p
	if c, ok := f["credHelpers"]; ok {
		hosts, pos := d.hosts(c)
		// credHelpers only go with images; refused images refuse them enough.
		if imagesOK {
			p.CredHelpers, p.hostPos, p.CredHelpersPos = hosts, pos, d.pos(c.value)
		}
	}
	if p.Images == "" && p.Helpers == "" {
		if imagesOK && helpersOK {
			d.errs.add(d.pos(v.key), "publish names no image; add images (one job image per target, e.g. %q) or helpers (one image of every binary, e.g. %q)", exampleImages, exampleHelpers)
		}
		return Publish{}
	}
	p.Lines = d.spans.of(v.key.Line, v.key, v.value)
	return p
}

// posString is a string and where it is written.
type posString struct {
	s string
	p Pos
}

// template reads the name template under key; ok is false when it was
// written and refused.
func (d *decoder) template(f map[string]field, key, example string) (posString, bool) {
	v, ok := f[key]
	if !ok {
		return posString{}, true
	}
	what := "publish." + key
	s, p, ok := d.str(v.value, what, example, refLimit)
	switch {
	case !ok:
		return posString{}, false
	case s == "":
		d.errs.add(p, "%s is empty; write an image name template, e.g. %s, or remove it", what, example)
		return posString{}, false
	}
	return posString{s, p}, true
}

// hosts reads credHelpers: a list of at most MaxCredHelpers strings.
func (d *decoder) hosts(v field) ([]string, []Pos) {
	n := resolve(v.value)
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		d.errs.add(d.pos(v.value), "publish.credHelpers must be a list of registries, e.g. [%s, public.ecr.aws]; remove it to write no config.json", exampleHost)
		return nil, nil
	}
	if len(n.Content) > MaxCredHelpers {
		d.errs.add(d.pos(v.value), "publish.credHelpers has %d entries, more than the %d allowed; list only the registries the jobs pull from", len(n.Content), MaxCredHelpers)
		return nil, nil
	}
	hosts, pos := make([]string, 0, len(n.Content)), make([]Pos, 0, len(n.Content))
	refused := false
	for i, item := range n.Content {
		h, p, ok := d.str(item, fmt.Sprintf("publish.credHelpers[%d]", i), exampleHost, valueLimit)
		refused = refused || !ok
		hosts, pos = append(hosts, h), append(pos, p)
	}
	if refused { // the rest is checked once every entry reads as a string
		return nil, nil
	}
	return hosts, pos
}
