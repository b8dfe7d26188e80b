package targets

import (
	"slices"
	"strings"

	"golang.org/x/mod/module"
)

// HelperSpec is a Docker credential helper llbgen knows how to build: its
// module, its main package, upstream's release flags, and what its
// `version` prints, which proves a binary runs. The values are read from
// each project's own release files (named per entry below).
type HelperSpec struct {
	// Name makes the binary's name: docker-credential-<Name>.
	Name    string
	Module  string
	Package string // the main package, relative to the module root
	// Strip is upstream's stripping flags ("-s", "-s -w"); llbgen adds
	// -buildid= so that rebuilds are bit-identical.
	Strip string
	// Vars are upstream's -X settings, PATH.Var=VALUE, where VALUE may hold
	// {version} (the module version, "v0.9.13") or {bare} (without its v).
	Vars []string
	// CommitVar, when set, is stamped with the origin commit's first 7
	// characters when the module proxy (or a lock) reports one.
	CommitVar string
	// Expect is what the check must print last: {version} or {bare}.
	Expect string
	// CheckArgs run the binary in its check; nil is `version`.
	CheckArgs []string
	// Cgo: the helper needs cgo (and the image's C libraries) to build.
	Cgo bool
}

// knownHelpers are the helpers a list may name.
var knownHelpers = []HelperSpec{
	{
		// awslabs/amazon-ecr-credential-helper: scripts/build_binary.sh
		Name:      "ecr-login",
		Module:    "github.com/awslabs/amazon-ecr-credential-helper/ecr-login",
		Package:   "./cli/docker-credential-ecr-login",
		Strip:     "-s",
		Vars:      []string{"github.com/awslabs/amazon-ecr-credential-helper/ecr-login/version.Version={bare}"},
		CommitVar: "github.com/awslabs/amazon-ecr-credential-helper/ecr-login/version.GitCommitSHA",
		Expect:    "{bare}",
	},
	{
		// GoogleCloudPlatform/docker-credential-gcr: .goreleaser.yml sets
		// config.Version without the module's /v2 (a no-op for the v2
		// module, which then reads its version from the build
		// information); llbgen sets the v2 path, so the binary says its
		// version however it is built. Not upstream's bytes.
		Name:    "gcr",
		Module:  "github.com/GoogleCloudPlatform/docker-credential-gcr/v2",
		Package: ".",
		Strip:   "-s -w",
		Vars:    []string{"github.com/GoogleCloudPlatform/docker-credential-gcr/v2/config.Version={bare}"},
		Expect:  "{bare}",
	},
	dockerHelper("secretservice", true),
	dockerHelper("pass", false),
}

// dockerHelper is one of docker/docker-credential-helpers (its Makefile).
// Upstream also sets credentials.Revision to the full commit hash; llbgen's
// commit stamping gives 7 characters (ecr-login's form), so it is left
// unset rather than set differently from upstream.
func dockerHelper(name string, cgo bool) HelperSpec {
	const m = "github.com/docker/docker-credential-helpers"
	return HelperSpec{
		Name:    name,
		Module:  m,
		Package: "./" + name + "/cmd",
		Strip:   "-s -w",
		Vars: []string{
			m + "/credentials.Version={version}",
			m + "/credentials.Package=" + m,
			m + "/credentials.Name=docker-credential-" + name,
		},
		Expect: "{version}",
		Cgo:    cgo,
	}
}

// KnownHelper is the helper of that name, if llbgen knows it.
func KnownHelper(name string) (HelperSpec, bool) {
	i := slices.IndexFunc(knownHelpers, func(s HelperSpec) bool { return s.Name == name })
	if i < 0 {
		return HelperSpec{}, false
	}
	return knownHelpers[i], true
}

// KnownHelperNames lists the helpers llbgen knows, in a stable order.
func KnownHelperNames() []string {
	var names []string
	for _, s := range knownHelpers {
		names = append(names, s.Name)
	}
	return names
}

// Binary is the helper's binary name: docker-credential-<Name>.
func (s HelperSpec) Binary() string { return "docker-credential-" + s.Name }

// LDFlags are upstream's release flags for version, with -buildid= added.
func (s HelperSpec) LDFlags(version string) string {
	flags := []string{s.Strip, "-buildid="}
	for _, v := range s.Vars {
		flags = append(flags, "-X", expand(v, version))
	}
	return strings.Join(flags, " ")
}

// Want is what the binary's `version` must print last for version.
func (s HelperSpec) Want(version string) string { return expand(s.Expect, version) }

// CacheDir is the module's directory in a Go module cache: its path with
// capitals escaped, as `go mod download` writes it.
func (s HelperSpec) CacheDir() string {
	p, err := module.EscapePath(s.Module)
	if err != nil {
		return s.Module // a known module's path always escapes
	}
	return p
}

func expand(v, version string) string {
	return strings.NewReplacer("{version}", version, "{bare}", strings.TrimPrefix(version, "v")).Replace(v)
}

// Spec is what h builds: a custom helper's own spec, or the known helper
// of its name (DefaultHelper when it has none).
func (h Helper) Spec() HelperSpec {
	if h.Custom != nil {
		return *h.Custom
	}
	s, _ := KnownHelper(helperName(h.Name))
	return s
}

// FileName is the helper's name as output file names hold it.
func (h Helper) FileName() string { return helperName(h.Name) }
