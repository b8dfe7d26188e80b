package targets

import (
	"encoding/json"
	"fmt"

	"github.com/invopop/jsonschema"
)

// The types below are the target list's shape for its JSON Schema (editors
// read it through `# yaml-language-server: $schema=...`). The parser walks
// YAML nodes itself, for positions; TestSchemaMatchesParser keeps the two in
// step.

// Document is a whole target list.
type Document struct {
	Helper  *DocHelper            `json:"helper,omitempty" jsonschema:"title=Helper,description=The docker-credential-ecr-login to build (the same as helpers: {ecr-login: ...})."`
	Helpers map[string]DocHelpers `json:"helpers,omitempty" jsonschema:"title=Helpers,description=The credential helpers to build by name: known ones (ecr-login; gcr; secretservice; pass) with their version; or custom ones by module."`
	Go      string                `json:"go,omitempty" jsonschema:"maxLength=1024,title=Toolchain image,description=Image whose /usr/local/go is the Go toolchain (default golang:1.26).,default=golang:1.26,example=golang:1.26"`
	Targets []DocTarget           `json:"targets" jsonschema:"required,minItems=1,maxItems=1000,title=Targets,description=One binary is built for each image and verified in it."`
	Publish DocPublish            `json:"publish,omitempty" jsonschema:"title=Publish,description=Images to build from the targets; llbgen build --push pushes them."`
}

// DocHelper is the helper block.
type DocHelper struct {
	Version string `json:"version" jsonschema:"required,maxLength=255,pattern=^v[0-9]+\\.[0-9]+\\.[0-9]+(-[0-9A-Za-z.-]+)?(\\+[0-9A-Za-z.-]+)?$,description=Module version of github.com/awslabs/amazon-ecr-credential-helper/ecr-login.,example=v0.12.0"`
}

// DocHelpers is one helper under helpers: a known helper takes version
// only; a custom one its module, main package, -ldflags and check.
type DocHelpers struct {
	Version string    `json:"version" jsonschema:"required,maxLength=255,pattern=^v[0-9]+\\.[0-9]+\\.[0-9]+(-[0-9A-Za-z.-]+)?(\\+[0-9A-Za-z.-]+)?$,description=Module version.,example=v0.13.0"`
	Module  string    `json:"module,omitempty" jsonschema:"maxLength=255,description=A custom helper's Go module path.,example=example.com/acme/docker-credential-acme"`
	Package string    `json:"package,omitempty" jsonschema:"maxLength=255,description=A custom helper's main package inside its module (default: .).,example=./cmd/docker-credential-acme"`
	LDFlags []string  `json:"ldflags,omitempty" jsonschema:"maxItems=32,maxLength=255,description=A custom helper's linker flags: -s; -w; or -X importpath.name=value with {{.Version}} or {{.Bare}}."`
	Check   *DocCheck `json:"check,omitempty" jsonschema:"description=How a custom helper's binary is run in its image to prove it runs."`
}

// DocCheck is a custom helper's check.
type DocCheck struct {
	Args   []string `json:"args,omitempty" jsonschema:"maxItems=8,maxLength=255,description=Arguments (default: version).,example=version"`
	Expect string   `json:"expect,omitempty" jsonschema:"maxLength=255,description=What the binary prints last (default: {{.Version}}).,example={{.Version}}"`
}

// JSONSchemaExtend says what tags cannot: a list names its helpers one
// way; helpers holds 1 to maxHelpers, named as Docker names helpers; a
// known helper takes its version only, any other helper its module too.
func (Document) JSONSchemaExtend(s *jsonschema.Schema) {
	s.OneOf = []*jsonschema.Schema{{Required: []string{"helper"}}, {Required: []string{"helpers"}}}
	h, ok := s.Properties.Get("helpers")
	if !ok || h.AdditionalProperties == nil {
		return
	}
	minH, maxH, maxLen, maxV := uint64(1), uint64(maxHelpers), uint64(maxHelperName), uint64(MaxValueBytes)
	h.MinProperties, h.MaxProperties = &minH, &maxH
	h.PropertyNames = &jsonschema.Schema{Pattern: helperNamePattern.String(), MaxLength: &maxLen}
	custom := *h.AdditionalProperties
	custom.Required = []string{"module", "version"}
	h.AdditionalProperties = &custom
	h.Properties = jsonschema.NewProperties()
	for _, n := range KnownHelperNames() {
		props := jsonschema.NewProperties()
		props.Set("version", &jsonschema.Schema{Type: "string", MaxLength: &maxV, Pattern: versionPattern,
			Description: "Module version of " + mustKnown(n).Module + "."})
		h.Properties.Set(n, &jsonschema.Schema{Type: "object", Required: []string{"version"}, Properties: props, AdditionalProperties: jsonschema.FalseSchema})
	}
}

// versionPattern is a full semantic version, as the schema states it.
const versionPattern = `^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`

// mustKnown is the known helper of that name.
func mustKnown(name string) HelperSpec {
	s, _ := KnownHelper(name)
	return s
}

// DocTarget is one entry of targets.
type DocTarget struct {
	Image     string   `json:"image" jsonschema:"required,minLength=1,maxLength=1024,description=Image reference the binary is built in and for.,example=docker:19.03.12"`
	Name      string   `json:"name,omitempty" jsonschema:"pattern=^[A-Za-z0-9][A-Za-z0-9._-]*$,maxLength=173,description=Target name; the file is docker-credential-HELPER-NAME. Default: last path element of the repository _ tag."`
	Cgo       bool     `json:"cgo,omitempty" jsonschema:"default=false,description=Link against the image's own C library (CGO_ENABLED=1 with the image's C compiler); the image needs one or setup must install it."`
	Setup     []string `json:"setup,omitempty" jsonschema:"minItems=1,maxItems=100,maxLength=4096,description=Shell commands run once in the image (network on) before a cgo compile; only with cgo: true. The image needs /bin/sh.,example=apt-get update"`
	Helpers   []string `json:"helpers,omitempty" jsonschema:"minItems=1,maxItems=8,uniqueItems=true,maxLength=16,description=The list's helpers this target builds (default: all).,example=gcr"`
	Platforms []string `json:"platforms,omitempty" jsonschema:"minItems=1,uniqueItems=true,maxLength=255,description=Linux platforms to build for (OS/ARCH[/VARIANT]); default: the daemon's. With several the files are NAME-OS-ARCH[-VARIANT].,example=linux/arm64"`
}

// DocPublish is the publish block.
type DocPublish struct {
	Images      string   `json:"images,omitempty" jsonschema:"minLength=1,maxLength=1024,description=Name of each target's job image: its image with the helper at /usr/local/bin/docker-credential-ecr-login. Placeholders: {name} (target name); {repo} (image repository path without domain or docker.io's library/); {tag} (image tag; latest when none; sha256-HEX12 for a digest); {version} (helper version).,example=registry.example.com/ci/{repo}:{tag}-ecr-login"`
	Helpers     string   `json:"helpers,omitempty" jsonschema:"minLength=1,maxLength=1024,description=Name of one FROM-scratch image holding every binary and SHA256SUMS. Placeholder: {version} (helper version).,example=registry.example.com/ci/ecr-login-helpers:{version}"`
	CredHelpers []string `json:"credHelpers,omitempty" jsonschema:"minItems=1,maxItems=100,uniqueItems=true,maxLength=255,description=Registries (host[:port]) the job images' config.json sends to the helper (credHelpers: ecr-login); only with images.,example=123456789012.dkr.ecr.us-east-1.amazonaws.com"`
}

// JSONSchemaExtend says what tags cannot: publish names at least one
// image, and credHelpers go only with images.
func (DocPublish) JSONSchemaExtend(s *jsonschema.Schema) {
	s.AnyOf = []*jsonschema.Schema{{Required: []string{"images"}}, {Required: []string{"helpers"}}}
	s.DependentRequired = map[string][]string{"credHelpers": {"images"}}
}

// The limits above are those of limits.go; TestSchemaStatesLimits keeps them
// in step. A schema cannot say the rest (file size, binaries, setup steps in
// all, aliases).

// SchemaID is where the schema of this version is published.
const SchemaID = "https://github.com/llbgen/llbgen/targets.schema.json"

// Schema returns the JSON Schema of a target list, made from Document.
func Schema() ([]byte, error) {
	r := &jsonschema.Reflector{ExpandedStruct: true, DoNotReference: true}
	s := r.Reflect(&Document{})
	s.ID = SchemaID
	s.Title = "llbgen target list"
	s.Description = "The images llbgen builds docker-credential-ecr-login for (targets.yaml)."
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding the schema: %w", err)
	}
	return append(b, '\n'), nil
}
