package targets

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
	"golang.org/x/mod/module"
)

// The keys of a known helper and of a custom one, under `helpers:`.
var (
	knownHelperKeys  = []string{"version"}
	customHelperKeys = []string{"module", "package", "version", "ldflags", "check"}
	checkKeys        = []string{"args", "expect"}
)

const (
	maxLDFlags   = 32 // -ldflags entries of a custom helper
	maxCheckArgs = 8  // arguments of a custom helper's check
)

// helperNamePattern is a helper's name: it makes docker-credential-<name>,
// the name Docker's config.json gives (credHelpers, credsStore).
var helperNamePattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// maxHelpers bounds the helpers a list builds.
const maxHelpers = 8

// helpers reads `helpers:`, a mapping of helper names to what to build, in
// the order written.
func (d *decoder) helpers(h field) []Helper {
	m := resolve(h.value)
	const example = "`helpers: {ecr-login: {version: " + DefaultHelperVersion + "}}`"
	if m.Kind != yaml.MappingNode || len(m.Content) == 0 {
		d.errs.add(d.pos(h.value), "helpers must be a mapping of helper names to {version: ...}; write %s (known helpers: %s)",
			example, strings.Join(KnownHelperNames(), ", "))
		return nil
	}
	if len(m.Content)/2 > maxHelpers {
		d.errs.add(d.pos(h.key), "helpers names %d helpers, more than the %d a list may build; split the list", len(m.Content)/2, maxHelpers)
		return nil
	}
	var out []Helper
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		key := resolve(m.Content[i])
		if key.Kind == yaml.ScalarNode && seen[key.Value] {
			d.errs.add(d.pos(key), "helper %s appears twice under helpers; keep one", Quote(key.Value))
			continue
		}
		seen[key.Value] = true
		if hl, ok := d.helperEntry(h, key, m.Content[i+1]); ok {
			out = append(out, hl)
		}
	}
	return out
}

// helperEntry reads one helper under helpers: key: value.
func (d *decoder) helperEntry(h field, key, value *yaml.Node) (Helper, bool) {
	name := key.Value
	where := "helpers." + clip(name)
	switch {
	case key.Kind != yaml.ScalarNode || key.ShortTag() != "!!str":
		d.errs.add(d.pos(key), "a helper's name must be a string, e.g. ecr-login")
		return Helper{}, false
	case len(name) > maxHelperName || !helperNamePattern.MatchString(name):
		d.errs.add(d.pos(key), "helper name %s is not lower-case letters and digits joined by dashes, at most %d bytes; name it as Docker's config.json does (docker-credential-NAME)",
			Quote(name), maxHelperName)
		return Helper{}, false
	}
	lines := d.spans.of(key.Line, key, value)
	if _, known := KnownHelper(name); known {
		f, ok := d.fields(value, where, fmt.Sprintf("%s must be a mapping; write `%s: {version: VERSION}`", where, name), knownHelperKeys...)
		if !ok {
			return Helper{}, false
		}
		version, p, ok := d.helperVersion(f, key, where)
		return Helper{Name: name, Version: version, Pos: p, Lines: lines}, ok
	}
	f, ok := d.fields(value, where, fmt.Sprintf("%s must be a mapping {module, package, version, ldflags, check}", where), customHelperKeys...)
	if !ok {
		return Helper{}, false
	}
	spec, ok := d.customHelper(f, name, where, key)
	version, p, vok := d.helperVersion(f, key, where)
	if !ok || !vok {
		return Helper{}, false
	}
	return Helper{Name: name, Version: version, Pos: p, Lines: lines, Custom: &spec}, true
}

// targetHelpers reads a target's helpers: the names of the list's helpers
// it builds.
func (d *decoder) targetHelpers(v field, where string) []string {
	items, ok := d.strings(v, where+".helpers", "[ecr-login, gcr]", maxHelpers)
	if !ok {
		return []string{} // refused: builds none, rather than all
	}
	if len(items) == 0 {
		d.errs.add(d.pos(v.value), "%s.helpers is empty; name the helpers it builds, or remove it to build all of the list's", where)
		return []string{}
	}
	names := []string{}
	for _, it := range items {
		if slices.Contains(names, it.s) {
			d.errs.add(it.p, "%s.helpers names %s twice", where, Quote(it.s))
			continue
		}
		names = append(names, it.s)
	}
	return names
}

// helperVersion reads a helper's version: key, checked.
func (d *decoder) helperVersion(f map[string]field, at *yaml.Node, where string) (string, Pos, bool) {
	v, ok := f["version"]
	if !ok {
		d.errs.add(d.pos(at), "%s.version is missing; add `version: VERSION` (a module version, e.g. %s)", where, DefaultHelperVersion)
		return "", Pos{}, false
	}
	// A bare 1.0 is a YAML float; take its text so the version check can say how to write it.
	version, p, ok := d.text(v.value, where+".version", DefaultHelperVersion, versionLimit, true)
	if !ok {
		return "", p, false
	}
	n := len(d.errs)
	checkVersion(&d.errs, version, p)
	return version, p, len(d.errs) == n
}

// customHelper reads a helper the list defines: its module, main package,
// -ldflags and check. Only -s, -w and -X are taken as flags: the static
// compile shares the build cache of llbgen's trusted stages, so no flag may
// make the linker run a program.
func (d *decoder) customHelper(f map[string]field, name, where string, at *yaml.Node) (HelperSpec, bool) {
	s := HelperSpec{Name: name, Expect: "{version}"}
	n := len(d.errs)
	if v, ok := f["module"]; !ok {
		d.errs.add(d.pos(at), "%s is not a helper llbgen knows (%s); add `module: PATH` to build it as a custom helper", where, strings.Join(KnownHelperNames(), ", "))
	} else if path, p, ok := d.str(v.value, where+".module", "example.com/acme/docker-credential-acme", valueLimit); ok {
		if err := module.CheckPath(path); err != nil {
			d.errs.add(p, "%s %s is not a Go module path: %v; write the path go get takes", where+".module", Quote(path), err)
		}
		s.Module = path
	}
	s.Package = "."
	if v, ok := f["package"]; ok {
		if pkg, p, ok := d.str(v.value, where+".package", "./cmd/docker-credential-acme", valueLimit); ok {
			if !relativePackage(pkg) {
				d.errs.add(p, "%s.package %s is not a package inside the module; write it as ./DIR (or . for the module's root)", where, Quote(pkg))
			}
			s.Package = pkg
		}
	}
	if v, ok := f["ldflags"]; ok && s.Module != "" {
		s.Strip, s.Vars = d.ldflags(v, where+".ldflags", s.Module)
	}
	if v, ok := f["check"]; ok {
		s.CheckArgs, s.Expect = d.check(v, where+".check")
	}
	return s, len(d.errs) == n
}

// relativePackage reports whether pkg is "." or "./DIR" inside the module.
func relativePackage(pkg string) bool {
	if pkg == "." {
		return true
	}
	rest, ok := strings.CutPrefix(pkg, "./")
	if !ok || rest == "" || strings.ContainsAny(rest, "\\ \t\n\"'`$*?[]{}") {
		return false
	}
	for _, el := range strings.Split(rest, "/") {
		if el == "" || el == "." || strings.Contains(el, "..") || strings.HasPrefix(el, "-") || strings.HasSuffix(el, ".go") {
			return false
		}
	}
	return true
}

// ldflags reads a custom helper's -ldflags: entries "-s", "-w" and
// "-X importpath.name=value", the value holding {{.Version}} (the module
// version) or {{.Bare}} (without its v) where the version goes.
func (d *decoder) ldflags(v field, where, mod string) (strip string, vars []string) {
	items, ok := d.strings(v, where, "[\"-s\", \"-X example.com/acme/version.Version={{.Version}}\"]", maxLDFlags)
	if !ok {
		return "", nil
	}
	var strips []string
	for _, it := range items {
		switch f := strings.Fields(it.s); {
		case len(f) == 1 && (f[0] == "-s" || f[0] == "-w"):
			strips = append(strips, f[0])
		case len(f) == 2 && f[0] == "-X" && xSetting.MatchString(f[1]) && !inModule(f[1], mod):
			d.errs.add(it.p, "%s entry %s sets a variable outside %s; -X may set only the helper's own variables (runtime's would change the build information llbgen records)", where, Quote(it.s), mod)
		case len(f) == 2 && f[0] == "-X" && xSetting.MatchString(f[1]):
			x, ok := d.placeholders(f[1], it.p, where)
			if ok {
				vars = append(vars, x)
			}
		default:
			d.errs.add(it.p, "%s entry %s is not -s, -w or -X importpath.name=value (no spaces or quotes in the value); llbgen passes only these to the linker", where, Quote(it.s))
		}
	}
	return strings.Join(strips, " "), vars
}

// xSetting is an -X flag's importpath.name=value, without spaces, quotes
// or NULs.
var xSetting = regexp.MustCompile(`^[A-Za-z0-9._~/-]+\.[A-Za-z_][A-Za-z0-9_]*=[^\s"'\x60\\\x00]*$`)

// inModule reports whether the -X setting importpath.name=value sets a
// variable of module mod (its root package or one under it).
func inModule(setting, mod string) bool {
	name, _, _ := strings.Cut(setting, "=")
	i := strings.LastIndex(name, ".")
	path := name[:max(i, 0)]
	return path == mod || strings.HasPrefix(path, mod+"/")
}

// placeholders turns {{.Version}} and {{.Bare}} into the spec's {version}
// and {bare}, refusing any other template.
func (d *decoder) placeholders(s string, p Pos, where string) (string, bool) {
	x := strings.NewReplacer("{{.Version}}", "{version}", "{{.Bare}}", "{bare}").Replace(s)
	rest := strings.NewReplacer("{version}", "", "{bare}", "").Replace(x)
	if strings.ContainsAny(rest, "{}") {
		d.errs.add(p, "%s: %s holds a template other than {{.Version}} (the module version, v1.4.0) and {{.Bare}} (1.4.0); write one of these", where, Quote(s))
		return "", false
	}
	return x, true
}

// check reads a custom helper's check: the arguments to run it with
// (default: version) and what it must print last.
func (d *decoder) check(v field, where string) (args []string, expect string) {
	f, ok := d.fields(v.value, where, where+" must be a mapping; write `check: {args: [version], expect: \"{{.Version}}\"}`", checkKeys...)
	if !ok {
		return nil, ""
	}
	expect = "{version}"
	if a, ok := f["args"]; ok {
		items, ok := d.strings(a, where+".args", "[version]", maxCheckArgs)
		for _, it := range items {
			if it.s == "" || strings.ContainsAny(it.s, "\x00\n") {
				d.errs.add(it.p, "%s.args entry %s is empty or holds a NUL or newline; write each argument as one word", where, Quote(it.s))
				ok = false
			}
			args = append(args, it.s)
		}
		if !ok {
			return nil, ""
		}
	}
	if e, ok := f["expect"]; ok {
		s, p, ok := d.str(e.value, where+".expect", "\"{{.Version}}\"", valueLimit)
		if !ok {
			return nil, ""
		}
		if strings.TrimSpace(s) != s || s == "" || strings.ContainsAny(s, "\n\x00") {
			d.errs.add(p, "%s.expect is empty, spans lines or starts or ends with a space (the output is compared trimmed); write what the helper prints last, e.g. \"{{.Version}}\"", where)
			return nil, ""
		}
		if expect, ok = d.placeholders(s, p, where+".expect"); !ok {
			return nil, ""
		}
	}
	return args, expect
}

// strings reads a list of at most limit strings.
func (d *decoder) strings(v field, where, example string, limit int) ([]posString, bool) {
	n := resolve(v.value)
	if n.Kind != yaml.SequenceNode {
		d.errs.add(d.pos(v.value), "%s must be a list of strings; write e.g. %s", where, example)
		return nil, false
	}
	if len(n.Content) > limit {
		d.errs.add(d.pos(v.key), "%s has %d entries, more than the %d allowed", where, len(n.Content), limit)
		return nil, false
	}
	var out []posString
	ok := true
	for i, it := range n.Content {
		s, p, good := d.str(it, fmt.Sprintf("%s[%d]", where, i), example, valueLimit)
		if !good {
			ok = false
			continue
		}
		out = append(out, posString{s, p})
	}
	return out, ok
}
