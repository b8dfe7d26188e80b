package targets

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/distribution/reference"
	"go.yaml.in/yaml/v3"
)

// Load reads and parses a target list file. It reads at most one byte more
// than MaxFileBytes, whatever the file is (/dev/zero, a pipe, a FIFO), and
// Parse refuses a list of that size; a FIFO that no program writes to is
// refused at once (ReadBounded), not waited for.
func Load(file string) (*List, error) {
	data, err := ReadBounded(file, MaxFileBytes)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	return Parse(file, data)
}

// Parse decodes and validates a target list. file is used only in messages.
// On refusal it returns an ErrorList with every problem found.
func Parse(file string, data []byte) (*List, error) {
	d := &decoder{file: file, data: data}
	if len(data) > MaxFileBytes {
		d.errs.add(Pos{file, 1, 1}, "the file is more than %d bytes (%d KiB), the most a target list may have; check that this is the target list, or split it into several",
			MaxFileBytes, MaxFileBytes>>10)
		return nil, d.errs.err()
	}
	root := d.document(data)
	if root == nil || !d.countNodes(root) {
		return nil, d.errs.err()
	}
	l := d.list(root)
	// The names are rendered only for an otherwise sound list: a refused
	// target or helper version has no name to give.
	l.checkPublish(&d.errs, len(d.errs) == 0)
	if err := d.errs.err(); err != nil {
		return nil, err
	}
	l.Source = bytes.Clone(data)
	return l, nil
}

// decoder walks one YAML document by hand, so that every refusal carries a
// line and column, and records all of them rather than stopping at the first.
type decoder struct {
	file  string
	data  []byte
	errs  ErrorList
	spans *spans // where the list's pieces are written

	binaries   int  // files the targets read so far build
	setupSteps int  // setup steps they run, once per platform
	overBins   bool // MaxBinaries was passed and said so
	overSetup  bool // MaxSetupStepsTotal was passed and said so
	nHelpers   int  // the helpers the list builds: each target builds them all, or those it names
}

// field is one key of a mapping with its value.
type field struct{ key, value *yaml.Node }

func (d *decoder) pos(n *yaml.Node) Pos {
	return Pos{File: d.file, Line: max(n.Line, 1), Col: max(n.Column, 1)}
}

// document returns the root node of the only document in data, or nil.
func (d *decoder) document(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := decode(dec, &doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.errs.add(Pos{d.file, 1, 1}, "the file is empty; write `helper:` and `targets:`")
		} else {
			d.syntax(err)
		}
		return nil
	}
	var next yaml.Node
	switch err := decode(dec, &next); {
	case err == nil:
		d.errs.add(d.pos(&next), "a second YAML document starts here; a target list is one document, so remove the `---` and what follows")
	case !errors.Is(err, io.EOF):
		d.syntax(err)
	}
	if len(doc.Content) == 0 || isNull(resolve(doc.Content[0])) {
		d.errs.add(d.pos(&doc), "the file is empty; write `helper:` and `targets:`")
		return nil
	}
	return doc.Content[0]
}

// countNodes refuses a document of more than MaxNodes nodes, each alias
// counted as the nodes it repeats, before anything walks it: the YAML
// library keeps aliases as pointers, and a walk that follows them is
// otherwise bounded by nothing.
func (d *decoder) countNodes(root *yaml.Node) bool {
	n := 0
	var via *yaml.Node // the outermost alias being expanded
	var walk func(x *yaml.Node) bool
	walk = func(x *yaml.Node) bool {
		if n++; n > MaxNodes {
			if via != nil {
				d.errs.add(d.pos(via), "the alias *%s takes the list past %d YAML values (keys, values and list entries, each alias counted as all it repeats); write the values out, or alias less",
					clip(via.Value), MaxNodes)
			} else {
				d.errs.add(d.pos(x), "the list has more than %d YAML values (keys, values and list entries) by here; a list of %d targets needs far fewer, so check the file or split it into several",
					MaxNodes, MaxTargets)
			}
			return false
		}
		if x.Kind == yaml.AliasNode && x.Alias != nil {
			if via == nil {
				via = x
				defer func() { via = nil }()
			}
			return walk(x.Alias)
		}
		for _, c := range x.Content {
			if !walk(c) {
				return false
			}
		}
		return true
	}
	return walk(root)
}

// decode guards against a panic inside the YAML parser: a malformed file
// must be refused, not crash the program reading it.
func decode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: %v", r)
		}
	}()
	return dec.Decode(n)
}

// exampleImage is the reference messages suggest.
const exampleImage = "docker:19.03.12"

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// syntax turns "yaml: line 3: msg" into a refusal at line 3, column 1.
func (d *decoder) syntax(err error) {
	msg, line := err.Error(), 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil && n > 0 {
			line = n
		}
		msg = msg[len(m[0]):]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	d.errs.add(Pos{d.file, line, 1}, "invalid YAML: %s; fix the syntax", msg)
}

// The keys each level of a list knows (see also Document, for the schema).
var (
	topKeys     = []string{"helper", "helpers", "go", "targets", "publish"}
	helperKeys  = []string{"version"}
	targetKeys  = []string{"image", "name", "cgo", "setup", "platforms", "helpers"}
	publishKeys = []string{"images", "helpers", "credHelpers"}
)

func (d *decoder) list(root *yaml.Node) *List {
	l := &List{File: d.file, Go: defaultGo()}
	f, ok := d.fields(root, "the target list",
		"the target list must be a mapping; write `helper:` and `targets:` at the top level",
		topKeys...)
	if !ok {
		return l
	}
	var seq *yaml.Node
	if t, ok := f["targets"]; ok {
		seq = resolve(t.value)
	}
	d.spans = newSpans(d.data, root, seq)
	h, one := f["helper"]
	hs, several := f["helpers"]
	switch {
	case one && several:
		d.errs.add(d.pos(hs.key), "the list has both helper and helpers; keep one: `helper: {version: V}` means `helpers: {%s: {version: V}}`", DefaultHelper)
	case one:
		l.Helpers = []Helper{d.helper(h)}
	case several:
		l.Helpers = d.helpers(hs)
		d.nHelpers = len(l.Helpers)
	default:
		d.errs.add(d.pos(root), "helper is missing; add `helper: {version: %s}` (ecr-login), or `helpers:` naming the helper to build", DefaultHelperVersion)
	}
	if g, ok := f["go"]; ok {
		if ref, p, ok := d.str(g.value, "go", DefaultGoImage, refLimit); ok {
			if img, named := checkImage(&d.errs, "go image", DefaultGoImage, ref, p); named != nil {
				l.Go, l.GoLines, l.GoKey = img, d.spans.of(g.key.Line, g.key, g.value), d.pos(g.key)
			}
		}
	}
	if t, ok := f["targets"]; ok {
		l.Targets = d.targets(t)
		if len(d.errs) == 0 {
			l.bindHelpers(&d.errs)
		}
	} else {
		d.errs.add(d.pos(root), "targets is missing; add `targets:` with at least one `- image: REF`")
	}
	if p, ok := f["publish"]; ok {
		l.Publish = d.publish(p)
	}
	return l
}

func (d *decoder) helper(h field) Helper {
	f, ok := d.fields(h.value, "helper",
		fmt.Sprintf("helper must be a mapping; write `helper: {version: %s}`", DefaultHelperVersion),
		helperKeys...)
	if !ok {
		return Helper{}
	}
	v, ok := f["version"]
	if !ok {
		d.errs.add(d.pos(h.key), "helper.version is missing; add `version: %s` under helper", DefaultHelperVersion)
		return Helper{}
	}
	// A bare 1.0 is a YAML float; take its text so the version check can say how to write it.
	version, p, ok := d.text(v.value, "helper.version", DefaultHelperVersion, versionLimit, true)
	if !ok {
		return Helper{}
	}
	checkVersion(&d.errs, version, p)
	return Helper{Version: version, Pos: p, Lines: d.spans.of(h.key.Line, h.key, h.value)}
}

func (d *decoder) targets(t field) []Target {
	n := resolve(t.value)
	if isNull(n) || n.Kind == yaml.SequenceNode && len(n.Content) == 0 {
		d.errs.add(d.pos(t.key), "targets: the list is empty; add at least one `- image: REF`")
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.errs.add(d.pos(t.value), "targets must be a list of {image, name, cgo, setup, platforms}; write each target as `- image: REF`")
		return nil
	}
	if len(n.Content) > MaxTargets {
		d.errs.add(d.pos(t.key), "targets has %d entries, more than the %d a list may have; split it into several lists", len(n.Content), MaxTargets)
		return nil
	}
	var named []Target // targets with a name, explicit or derived
	for i, item := range n.Content {
		if t, ok := d.target(i, item); ok {
			named = append(named, t)
		}
	}
	checkNames(&d.errs, named, fromFile)
	return named
}

// target decodes one list item; ok reports whether it has a name to check.
func (d *decoder) target(i int, item *yaml.Node) (t Target, ok bool) {
	where := fmt.Sprintf("targets[%d]", i)
	t.Pos = d.pos(item)
	t.Lines = d.spans.of(d.spans.item(item), item)
	f, ok := d.fields(item, where,
		where+" must be a mapping {image, name, cgo, setup, platforms}; write it as `- image: REF`",
		targetKeys...)
	if !ok {
		return t, false
	}
	var named reference.Named
	if v, ok := f["image"]; !ok {
		d.errs.add(t.Pos, "%s has no image; add `image: REF`", where)
	} else if ref, p, ok := d.str(v.value, where+".image", exampleImage, refLimit); ok {
		t.Image, named = checkImage(&d.errs, "image", exampleImage, ref, p)
	}
	d.buildOptions(&t, where, f)
	if v, ok := f["name"]; ok {
		name, p, ok := d.str(v.value, where+".name", "docker_19.03.12", valueLimit)
		switch {
		case !ok:
			return t, false
		case name == "":
			d.errs.add(p, "%s.name is empty; remove it to use the name derived from the image", where)
			return t, false
		}
		t.Name, t.namePos = name, p
		return t, true
	}
	if named == nil {
		return t, false
	}
	t.Name = deriveName(named)
	return t, true
}

// fields reads the mapping n, refusing unknown and repeated keys. where
// names n in messages; notMapping is the refusal when n is no mapping.
func (d *decoder) fields(n *yaml.Node, where, notMapping string, known ...string) (map[string]field, bool) {
	m := resolve(n)
	if m.Kind != yaml.MappingNode {
		d.errs.add(d.pos(n), "%s", notMapping)
		return nil, false
	}
	f := make(map[string]field, len(known))
	seen := make(map[string]*yaml.Node, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		key, value := m.Content[i], m.Content[i+1]
		k := resolve(key)
		switch {
		case k.Kind != yaml.ScalarNode:
			d.errs.add(d.pos(key), "a key in %s is %s; keys are plain words: %s", where, kindName(k), strings.Join(known, ", "))
			continue
		case len(k.Value) > MaxValueBytes:
			d.errs.add(d.pos(key), "a key in %s is %d bytes, more than the %d allowed: %s; keys are plain words: %s", where, len(k.Value), MaxValueBytes, Quote(k.Value), strings.Join(known, ", "))
			continue
		case k.ShortTag() == "!!merge":
			d.errs.add(d.pos(key), "merge keys (<<) are not supported in %s; write the keys out", where)
			continue
		}
		if first, ok := seen[k.Value]; ok {
			d.errs.add(d.pos(key), "key %s appears twice in %s (first at line %d); keep one", Quote(k.Value), where, first.Line)
			continue
		}
		seen[k.Value] = key
		if !slices.Contains(known, k.Value) {
			d.errs.add(d.pos(key), "unknown key %s in %s; known keys: %s", Quote(k.Value), where, strings.Join(known, ", "))
			continue
		}
		f[k.Value] = field{key: key, value: value}
	}
	return f, true
}

// str reads n as a string; an empty value reads as "". what names n in
// messages, example is a value to suggest and limit bounds its length.
func (d *decoder) str(n *yaml.Node, what, example string, limit lengthLimit) (string, Pos, bool) {
	return d.text(n, what, example, limit, false)
}

// text reads a scalar's text; unless anyScalar, only YAML strings are taken,
// so that `name: 1.10` cannot silently become "1.1".
func (d *decoder) text(n *yaml.Node, what, example string, limit lengthLimit, anyScalar bool) (string, Pos, bool) {
	p := d.pos(n)
	s := resolve(n)
	switch {
	case s.Kind != yaml.ScalarNode:
		d.errs.add(p, "%s must be a string, not %s; write one value, e.g. %s", what, kindName(s), example)
		return "", p, false
	case isNull(s):
		return "", p, true
	case len(s.Value) > limit.max:
		d.errs.add(p, "%s is %d bytes, more than the %d allowed: %s; %s", what, len(s.Value), limit.max, Quote(s.Value), limit.hint)
		return "", p, false
	case !anyScalar && s.Style&yaml.TaggedStyle != 0 && s.ShortTag() != "!!str":
		d.errs.add(p, "%s is tagged %s; write it as a plain string, quoted if need be", what, clip(s.ShortTag()))
		return "", p, false
	case !anyScalar && s.ShortTag() != "!!str":
		d.errs.add(p, "%s must be a string, but YAML reads %s as %s; quote it: %s", what, clip(s.Value), kindName(s), Quote(s.Value))
		return "", p, false
	}
	return s.Value, p, true
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// kindName says what n is, for messages: "a list", "a number".
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.ShortTag() {
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "null"
	case "!!timestamp":
		return "a date"
	case "!!str":
		return "a string"
	}
	return "a value tagged " + clip(n.ShortTag())
}
