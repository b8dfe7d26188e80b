package targets

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	data, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("schema.json")
	if err != nil {
		t.Fatalf("the schema does not compile: %v", err)
	}
	return s
}

// yamlToJSON turns a YAML document into the value a validator takes.
func yamlToJSON(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRepositoryListMatchesSchema(t *testing.T) {
	s := compileSchema(t)
	data, err := os.ReadFile("../../targets.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(yamlToJSON(t, data)); err != nil {
		t.Errorf("targets.yaml does not match the schema: %v", err)
	}
}

// The schema refuses what the parser refuses, for what a schema can say.
func TestSchemaRefuses(t *testing.T) {
	s := compileSchema(t)
	for name, doc := range map[string]string{
		"unknown key":                  "helper: {version: v0.12.0}\ntargets: [{image: a, platform: x}]\n",
		"no version":                   "helper: {}\ntargets: [{image: a}]\n",
		"short version":                "helper: {version: v1}\ntargets: [{image: a}]\n",
		"empty targets":                "helper: {version: v0.12.0}\ntargets: []\n",
		"escaping name":                "helper: {version: v0.12.0}\ntargets: [{image: a, name: ../x}]\n",
		"top-level extra":              "helper: {version: v0.12.0}\ntargets: [{image: a}]\nextra: 1\n",
		"long image":                   "helper: {version: v0.12.0}\ntargets: [{image: a:" + strings.Repeat("1", MaxImageRefBytes) + "}]\n",
		"many setup steps":             "helper: {version: v0.12.0}\ntargets: [{image: a, cgo: true, setup: [" + strings.Repeat("x, ", MaxSetupSteps) + "x]}]\n",
		"long setup step":              "helper: {version: v0.12.0}\ntargets: [{image: a, cgo: true, setup: [" + strings.Repeat("x", MaxSetupBytes+1) + "]}]\n",
		"publish nothing":              "helper: {version: v0.12.0}\ntargets: [{image: a}]\npublish: {}\n",
		"publish unknown":              "helper: {version: v0.12.0}\ntargets: [{image: a}]\npublish: {images: r.io/x, image: r.io/y}\n",
		"publish empty":                "helper: {version: v0.12.0}\ntargets: [{image: a}]\npublish: {images: \"\"}\n",
		"long template":                "helper: {version: v0.12.0}\ntargets: [{image: a}]\npublish: {helpers: r.io/x:" + strings.Repeat("1", MaxImageRefBytes) + "}\n",
		"credHelpers only with images": "helper: {version: v0.12.0}\ntargets: [{image: a}]\npublish: {helpers: r.io/x, credHelpers: [public.ecr.aws]}\n",
		"credHelpers twice":            "helper: {version: v0.12.0}\ntargets: [{image: a}]\npublish: {images: \"r.io/{name}\", credHelpers: [public.ecr.aws, public.ecr.aws]}\n",
		"many credHelpers":             "helper: {version: v0.12.0}\ntargets: [{image: a}]\npublish: {images: \"r.io/{name}\", credHelpers: [" + hosts(MaxCredHelpers+1) + "]}\n",
		"long credHelper":              "helper: {version: v0.12.0}\ntargets: [{image: a}]\npublish: {images: \"r.io/{name}\", credHelpers: [" + strings.Repeat("a", MaxValueBytes+1) + "]}\n",
		"helper and helpers":           "helper: {version: v0.12.0}\nhelpers: {gcr: {version: v2.2.1}}\ntargets: [{image: a}]\n",
		"no helpers":                   "helpers: {}\ntargets: [{image: a}]\n",
		"helper name":                  "helpers: {../x: {module: x.com/y, version: v1.0.0}}\ntargets: [{image: a}]\n",
		"known helper with module":     "helpers: {gcr: {version: v2.2.1, module: x.com/y}}\ntargets: [{image: a}]\n",
		"known helper without version": "helpers: {gcr: {}}\ntargets: [{image: a}]\n",
		"custom helper without module": "helpers: {acme: {version: v1.0.0}}\ntargets: [{image: a}]\n",
		"many helpers":                 "helpers: {" + strings.Repeat("x", 0) + manyHelpers(maxHelpers+1) + "}\ntargets: [{image: a}]\n",
		"target helpers empty":         "helpers: {gcr: {version: v2.2.1}}\ntargets: [{image: a, helpers: []}]\n",
	} {
		if _, err := Parse("t.yaml", []byte(doc)); err == nil {
			t.Fatalf("%s: the parser accepts it; the case is wrong", name)
		}
		if err := s.Validate(yamlToJSON(t, []byte(doc))); err == nil {
			t.Errorf("%s: the schema accepts what the parser refuses", name)
		}
	}
}

// The schema's properties are exactly the keys the parser knows.
func TestSchemaMatchesParser(t *testing.T) {
	data, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Properties map[string]struct {
			Properties map[string]any `json:"properties"`
			Items      struct {
				Properties map[string]any `json:"properties"`
			} `json:"items"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	keys := func(m map[string]any) string {
		var k []string
		for key := range m {
			k = append(k, key)
		}
		sort.Strings(k)
		return strings.Join(k, " ")
	}
	var top []string
	for k := range s.Properties {
		top = append(top, k)
	}
	slices.Sort(top)
	if got := strings.Join(top, " "); got != strings.Join(sortedCopy(topKeys), " ") {
		t.Errorf("schema top-level keys %q, parser knows %q", got, topKeys)
	}
	if got := keys(s.Properties["helper"].Properties); got != strings.Join(sortedCopy(helperKeys), " ") {
		t.Errorf("schema helper keys %q, parser knows %q", got, helperKeys)
	}
	if got := keys(s.Properties["targets"].Items.Properties); got != strings.Join(sortedCopy(targetKeys), " ") {
		t.Errorf("schema target keys %q, parser knows %q", got, targetKeys)
	}
	if got := keys(s.Properties["publish"].Properties); got != strings.Join(sortedCopy(publishKeys), " ") {
		t.Errorf("schema publish keys %q, parser knows %q", got, publishKeys)
	}
}

// The schema takes a list with every publish key the parser takes.
func TestSchemaTakesPublish(t *testing.T) {
	s := compileSchema(t)
	for _, doc := range []string{
		"helper: {version: v0.12.0}\ntargets: [{image: a}]\npublish:\n  images: \"registry.example.com/ci/{repo}:{tag}-ecr-login\"\n  helpers: \"registry.example.com/ci/ecr-login-helpers:{version}\"\n  credHelpers: [123456789012.dkr.ecr.us-east-1.amazonaws.com, public.ecr.aws]\n",
		"helper: {version: v0.12.0}\ntargets: [{image: a}]\npublish: {helpers: r.io/h}\n",
		"helper: {version: v0.12.0}\ntargets: [{image: a}]\npublish: {images: \"r.io/{name}\", credHelpers: [" + hosts(MaxCredHelpers) + "]}\n",
	} {
		if _, err := Parse("t.yaml", []byte(doc)); err != nil {
			t.Fatalf("the parser refuses it; the case is wrong: %v", err)
		}
		if err := s.Validate(yamlToJSON(t, []byte(doc))); err != nil {
			t.Errorf("the schema refuses what the parser takes: %v\n%s", err, doc)
		}
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// The schema states the limits of limits.go that JSON Schema can express.
func TestSchemaStatesLimits(t *testing.T) {
	data, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	type str struct {
		MaxLength int `json:"maxLength"`
	}
	type list struct {
		MaxItems int `json:"maxItems"`
		Items    str `json:"items"`
	}
	var s struct {
		Properties struct {
			Helper struct {
				Properties struct{ Version str } `json:"properties"`
			} `json:"helper"`
			Go      str `json:"go"`
			Targets struct {
				MaxItems int `json:"maxItems"`
				Items    struct {
					Properties struct {
						Image, Name      str
						Setup, Platforms list
					} `json:"properties"`
				} `json:"items"`
			} `json:"targets"`
			Publish struct {
				Properties struct {
					Images, Helpers str
					CredHelpers     list `json:"credHelpers"`
				} `json:"properties"`
			} `json:"publish"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	p, tp, pp := s.Properties, s.Properties.Targets.Items.Properties, s.Properties.Publish.Properties
	for _, c := range []struct {
		what      string
		got, want int
	}{
		{"helper.version maxLength", p.Helper.Properties.Version.MaxLength, MaxValueBytes},
		{"go maxLength", p.Go.MaxLength, MaxImageRefBytes},
		{"targets maxItems", p.Targets.MaxItems, MaxTargets},
		{"image maxLength", tp.Image.MaxLength, MaxImageRefBytes},
		{"name maxLength", tp.Name.MaxLength, maxName},
		{"setup maxItems", tp.Setup.MaxItems, MaxSetupSteps},
		{"setup items maxLength", tp.Setup.Items.MaxLength, MaxSetupBytes},
		{"platforms items maxLength", tp.Platforms.Items.MaxLength, MaxValueBytes},
		{"publish images maxLength", pp.Images.MaxLength, MaxImageRefBytes},
		{"publish helpers maxLength", pp.Helpers.MaxLength, MaxImageRefBytes},
		{"publish credHelpers maxItems", pp.CredHelpers.MaxItems, MaxCredHelpers},
		{"publish credHelpers items maxLength", pp.CredHelpers.Items.MaxLength, MaxValueBytes},
	} {
		if c.got != c.want {
			t.Errorf("schema %s is %d, the parser's limit %d", c.what, c.got, c.want)
		}
	}
}

// manyHelpers is n custom helpers, as a YAML flow mapping's entries.
func manyHelpers(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "h%d: {module: x.com/y, version: v1.0.0}", i)
	}
	return b.String()
}

// The schema takes lists of known and custom helpers that the parser takes.
func TestSchemaTakesHelpers(t *testing.T) {
	s := compileSchema(t)
	for _, doc := range []string{
		"helpers: {gcr: {version: v2.2.1}}\ntargets: [{image: a}]\n",
		"helpers:\n  ecr-login: {version: v0.13.0}\n  secretservice: {version: v0.9.13}\n  acme: {module: x.com/y, package: ./cmd/y, version: v1.0.0, ldflags: [\"-s\"], check: {args: [version], expect: \"{{.Version}}\"}}\n" +
			"targets:\n  - image: a\n    helpers: [acme]\n  - image: b\n",
	} {
		if _, err := Parse("t.yaml", []byte(doc)); err != nil {
			t.Fatalf("the parser refuses it: %v", err)
		}
		if err := s.Validate(yamlToJSON(t, []byte(doc))); err != nil {
			t.Errorf("the schema refuses %q: %v", doc, err)
		}
	}
}
