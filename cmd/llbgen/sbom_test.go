package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/llbgen/llbgen/internal/testbed"
)

// --sbom lands an SPDX document of each binary beside it, made by
// BuildKit's SBOM generator (the test bed's: syft, in BuildKit's scanner
// protocol) from that binary alone: it names the helper's module and its
// dependencies. The metadata file names it. A generator that cannot be had
// fails the run in one line, and nothing is written.
func TestSBOM(t *testing.T) {
	bed := testbed.Require(t)
	scanner := bed.Registry + "/standin/syft-scanner:latest"
	file := writeList(t, fmt.Sprintf("helper: {version: v0.12.0}\ngo: %s\ntargets:\n  - {image: %s, name: musl}\n  - {image: %s, name: glibc}\n", bed.Golang(), bed.Musl(), bed.Glibc()))
	out, meta := t.TempDir(), filepath.Join(t.TempDir(), "meta.json")
	r := runLLBGen(t, bed.Addr, "build", "-f", file, "--out", out, "--sbom=generator="+scanner, "--metadata-file", meta, "--progress", "plain")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, tail(r.stderr, 30))
	}
	for _, name := range []string{"musl", "glibc"} {
		bin := "docker-credential-ecr-login-" + name
		data, err := os.ReadFile(filepath.Join(out, bin+".spdx.json"))
		if err != nil {
			t.Fatalf("no SBOM of %s: %v", bin, err)
		}
		var doc struct {
			SPDXVersion string `json:"spdxVersion"`
			Packages    []struct {
				Name string `json:"name"`
			} `json:"packages"`
			Files []struct {
				FileName string `json:"fileName"`
			} `json:"files"`
		}
		if err := json.Unmarshal(data, &doc); err != nil || !strings.HasPrefix(doc.SPDXVersion, "SPDX-") {
			t.Fatalf("%s.spdx.json is no SPDX document (%v):\n%.300s", bin, err, data)
		}
		var names []string
		for _, p := range doc.Packages {
			names = append(names, p.Name)
		}
		all := strings.Join(names, " ")
		for _, want := range []string{"github.com/awslabs/amazon-ecr-credential-helper/ecr-login", "github.com/aws/aws-sdk-go-v2"} {
			if !strings.Contains(all, want) {
				t.Errorf("the SBOM of %s names no %s: %q", bin, want, names)
			}
		}
		// Made of this binary alone: no other binary is in it.
		other := map[string]string{"musl": "glibc", "glibc": "musl"}[name]
		if strings.Contains(string(data), "docker-credential-ecr-login-"+other) {
			t.Errorf("the SBOM of %s names the %s binary", bin, other)
		}
	}
	m := readMetadata(t, meta)
	for _, b := range m.Binaries {
		if b.SBOM != b.File+".spdx.json" {
			t.Errorf("metadata of %s: sbom %q", b.File, b.SBOM)
		}
	}
	if sums := readFile(t, filepath.Join(out, "SHA256SUMS")); strings.Contains(sums, ".spdx.json") {
		t.Errorf("SHA256SUMS lists the SBOMs:\n%s", sums)
	}

	none := filepath.Join(t.TempDir(), "out")
	r = runLLBGen(t, bed.Addr, "build", "-f", file, "--out", none, "--sbom=generator="+closedPort(t)+"/no/scanner:latest", "--progress", "plain")
	if r.code != 1 || !strings.Contains(r.stderr, "making the SBOMs: ") {
		t.Errorf("a generator that cannot be pulled: exit %d\n%s", r.code, tail(r.stderr, 10))
	}
	if _, err := os.Stat(none); !os.IsNotExist(err) {
		t.Error("without the SBOMs, the output directory was made")
	}
}

// A --sbom value llbgen does not take is bad input: exit 2, nothing written.
func TestSBOMFlag(t *testing.T) {
	for _, tc := range []struct{ arg, want string }{
		{"--sbom=yes", "llbgen: --sbom=yes: want --sbom (BuildKit's default generator) or --sbom=generator=IMAGE"},
		{"--sbom=generator=", "llbgen: --sbom=generator=: "},
		{"--sbom=generator=Bad Image", "llbgen: --sbom=generator=Bad Image: "},
	} {
		t.Setenv("BUILDKIT_HOST", "")
		dir := dirWith(t, map[string]string{"targets.yaml": goodList})
		assertBadInput(t, dir, "^"+regexp.QuoteMeta(tc.want), "build", tc.arg)
	}
}
