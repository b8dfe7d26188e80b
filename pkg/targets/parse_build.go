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
		var good bool
		if t.Cgo, good = d.bool(v.value, where+".cgo"); good && !t.Cgo {
			t.cgoOff = d.pos(v.value)
		}
	}
	if v, ok := f["helpers"]; ok {
		t.helpersPos = d.pos(v.value)
		t.Helpers = d.targetHelpers(v, where)
	}
	// One binary per platform, or one for the daemon's: counted as written,
	// before any is read, so that a long list is refused without reading it.
	builds := 1
	if v, ok := f["platforms"]; ok {
		if n := resolve(v.value); n.Kind == yaml.SequenceNode {
			builds = max(1, len(n.Content))
		}
	}
	// and one per helper the target builds
	helpers := max(1, d.nHelpers)
	if v, ok := f["helpers"]; ok {
		if n := resolve(v.value); n.Kind == yaml.SequenceNode {
			helpers = max(1, len(n.Content))
		}
	}
	if d.binaries += builds * helpers; d.binaries > MaxBinaries {
		if !d.overBins {
			d.overBins = true
			d.errs.add(t.Pos, "%s takes the list past %d binaries (one per target, helper and platform); build fewer platforms or helpers, or split the list into several", where, MaxBinaries)
		}
	} else if v, ok := f["platforms"]; ok {
		t.Platforms = d.platforms(v, where)
	}
	if v, ok := f["setup"]; ok {
		t.Setup = d.setup(v, where, builds)
		if len(t.Setup) > 0 {
			t.setupPos = d.pos(v.key) // bindHelpers refuses it without a cgo binary
		}
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

// setup reads a list of shell commands, run once for each of builds platforms.
func (d *decoder) setup(v field, where string, builds int) []string {
	n := resolve(v.value)
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		d.errs.add(d.pos(v.value), "%s.setup must be a list of shell commands, e.g. [apt-get update, apt-get install -y gcc libc6-dev]", where)
		return nil
	}
	if len(n.Content) > MaxSetupSteps {
		d.errs.add(d.pos(v.value), "%s.setup has %d steps, more than the %d a target may have; join commands with && or install with fewer", where, len(n.Content), MaxSetupSteps)
		return nil
	}
	if d.setupSteps += len(n.Content) * builds; d.setupSteps > MaxSetupStepsTotal {
		if !d.overSetup {
			d.overSetup = true
			d.errs.add(d.pos(v.value), "%s.setup takes the list past %d setup steps in all (each target's counted once per platform it is built for); use fewer steps or platforms, or split the list into several", where, MaxSetupStepsTotal)
		}
		return nil
	}
	var cmds []string
	for i, item := range n.Content {
		what := fmt.Sprintf("%s.setup[%d]", where, i)
		cmd, p, ok := d.str(item, what, "apt-get update", setupLimit)
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
		s, p, ok := d.str(item, what, "linux/arm64", valueLimit)
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
		return kindName(n) + " " + Quote(n.Value)
	}
	return kindName(n)
}
