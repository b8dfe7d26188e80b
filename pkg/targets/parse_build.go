package targets

import (
	"fmt"
	"strings"

	"github.com/containerd/platforms"
	"go.yaml.in/yaml/v3"
)

// examplePlatforms is the platforms value messages suggest.
const examplePlatforms = "[linux/amd64, linux/arm64]"

// buildOptions decodes how a target is built: cgo, setup and platforms.
func (d *decoder) buildOptions(t *Target, where string, f map[string]field) {
	if v, ok := f["cgo"]; ok {
		t.Cgo, _ = d.bool(v.value, where+".cgo")
	}
	if v, ok := f["setup"]; ok {
		t.Setup = d.setup(v, where)
		if len(t.Setup) > 0 && !t.Cgo {
			d.errs.add(d.pos(v.key), "%s.setup runs only before a cgo compile (a static build uses nothing from the image); add `cgo: true` or remove setup", where)
		}
	}
	if v, ok := f["platforms"]; ok {
		t.Platforms = d.platforms(v, where)
	}
}

// bool reads a YAML boolean; "yes" or "1" are refused, not guessed.
func (d *decoder) bool(n *yaml.Node, what string) (bool, bool) {
	s := resolve(n)
	if s.Kind != yaml.ScalarNode || s.ShortTag() != "!!bool" {
		d.errs.add(d.pos(n), "%s must be true or false, not %s", what, describe(s))
		return false, false
	}
	return s.Value == "true", true
}

// setup reads a list of shell commands.
func (d *decoder) setup(v field, where string) []string {
	n := resolve(v.value)
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		d.errs.add(d.pos(v.value), "%s.setup must be a list of shell commands, e.g. [apt-get update, apt-get install -y gcc libc6-dev]", where)
		return nil
	}
	var cmds []string
	for i, item := range n.Content {
		what := fmt.Sprintf("%s.setup[%d]", where, i)
		cmd, p, ok := d.str(item, what, "apt-get update")
		if !ok {
			continue
		}
		if strings.TrimSpace(cmd) == "" {
			d.errs.add(p, "%s is empty; write a shell command or remove the entry", what)
			continue
		}
		cmds = append(cmds, cmd)
	}
	return cmds
}

// platforms reads a list of OS/ARCH[/VARIANT], normalized, each once.
func (d *decoder) platforms(v field, where string) []Platform {
	n := resolve(v.value)
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		d.errs.add(d.pos(v.value), "%s.platforms must be a list of platforms, e.g. %s; remove it to build for the daemon's platform", where, examplePlatforms)
		return nil
	}
	var out []Platform
	seen := map[string]Pos{}
	for i, item := range n.Content {
		what := fmt.Sprintf("%s.platforms[%d]", where, i)
		s, p, ok := d.str(item, what, "linux/arm64")
		if !ok {
			continue
		}
		pl, err := ParsePlatform(s)
		if err != nil {
			d.errs.add(p, "%s: %v", what, err)
			continue
		}
		key := platforms.Format(pl)
		if first, ok := seen[key]; ok {
			d.errs.add(p, "%s: %s is listed twice (first at line %d, as the same platform once normalized); keep one", what, key, first.Line)
			continue
		}
		seen[key] = p
		out = append(out, Platform{Platform: pl, Pos: p})
	}
	return out
}

// describe says what a node holds, for messages: "a list", "the string "yes"".
func describe(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		return fmt.Sprintf("%s %q", kindName(n), n.Value)
	}
	return kindName(n)
}
