package frontend

import (
	"strings"
	"testing"

	"github.com/llbgen/llbgen/pkg/graph"
)

func TestModuleEnv(t *testing.T) {
	env, err := ModuleEnv(map[string]string{"GOPROXY": "https://proxy.example", "GONOSUMDB": "corp.example", "HELPER_VERSION": "v0.12.0"})
	if err != nil {
		t.Fatal(err)
	}
	if len(env) != 2 || env["GOPROXY"] != "https://proxy.example" || env["GONOSUMDB"] != "corp.example" {
		t.Errorf("env %v", env)
	}

	// Build arguments land in the build's history and provenance.
	_, err = ModuleEnv(map[string]string{"GOPROXY": "https://user:SECRET@proxy.example"})
	if err == nil {
		t.Fatal("a GOPROXY build argument with credentials was accepted")
	}
	msg := err.Error()
	if strings.Contains(msg, "SECRET") {
		t.Errorf("the refusal shows the password: %s", msg)
	}
	for _, want := range []string{"build-arg:GOPROXY=https://user:xxxxx@proxy.example", "--secret id=GOPROXY,env=GOPROXY"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the refusal lacks %q: %s", want, msg)
		}
	}
}

// The frontend names the build argument that would skip the checksum database.
func TestSumDBRefusalNamesTheBuildArg(t *testing.T) {
	env, err := ModuleEnv(map[string]string{"GOPRIVATE": "github.com/awslabs"})
	if err != nil {
		t.Fatal(err)
	}
	err = graph.CheckSumDB(env, false, "build-arg:")
	if err == nil || !strings.HasPrefix(err.Error(), `build-arg:GOPRIVATE=github.com/awslabs: pattern "github.com/awslabs" matches`) {
		t.Errorf("got %v", err)
	}
}
