package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llbgen/llbgen/internal/testbed"
)

// Bake's variables: another list, another output directory, a subset.
func TestBakeVariables(t *testing.T) {
	bed := testbed.Require(t)
	x := bed.RequireBuildx(t)
	repo := repoCopy(t)
	writeFile(t, filepath.Join(repo, "ci.yaml"), standInList(bed, bed.Musl(), bed.Glibc()))
	log, err := bake(t, x, repo, "TARGETS_FILE=ci.yaml", "OUT=dist", "TARGETS=gitlab-runner_v13.2.1")
	if err != nil {
		t.Fatalf("buildx bake: %v\n%s", err, tail(log, 30))
	}
	assertFiles(t, filepath.Join(repo, "dist"), map[string]string{"docker-credential-ecr-login-gitlab-runner_v13.2.1": ""})

	// SBOM: one document of the output, by the test bed's generator.
	log, err = bake(t, x, repo, "TARGETS_FILE=ci.yaml", "OUT=sbom", "TARGETS=gitlab-runner_v13.2.1", "SBOM="+bed.Registry+"/standin/syft-scanner:latest")
	if err != nil {
		t.Fatalf("buildx bake with SBOM: %v\n%s", err, tail(log, 30))
	}
	var stmt struct {
		PredicateType string `json:"predicateType"`
		Predicate     struct {
			SPDXVersion string `json:"spdxVersion"`
			Packages    []struct {
				Name string `json:"name"`
			} `json:"packages"`
		} `json:"predicate"`
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(repo, "sbom", "sbom.spdx.json"))), &stmt); err != nil || stmt.Predicate.SPDXVersion == "" {
		t.Errorf("bake with SBOM wrote no SPDX statement: %v", err)
	} else if !strings.Contains(fmt.Sprint(stmt.Predicate.Packages), "github.com/awslabs/amazon-ecr-credential-helper/ecr-login") {
		t.Errorf("bake's SBOM names no helper module: %v", stmt.Predicate.Packages)
	}

	log, err = bake(t, x, repo, "TARGETS_FILE=ci.yaml", "TARGETS=nope")
	if err == nil || !strings.Contains(log, `build-arg:TARGETS names "nope", which is not a target of ci.yaml`) {
		t.Errorf("an unknown TARGETS name: err %v, want a message naming it:\n%s", err, tail(log, 15))
	}
}
