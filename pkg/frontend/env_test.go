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
	for _, want := range []string{"build-arg:GOPROXY=https://xxxxx@proxy.example", "--secret id=GOPROXY,env=GOPROXY"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the refusal lacks %q: %s", want, msg)
		}
	}
}

// A GOPROXY build argument that Go would print (a URL that does not parse,
// a token as the user name) or that hides a token in its query fails the
// build, naming the entry, not the value.
func TestModuleEnvRefusesLeakyProxy(t *testing.T) {
	for goproxy, want := range map[string]string{
		"https://user:p%zzSECRET@proxy.example/,direct": "build-arg:GOPROXY entry 1 is not a URL (invalid escape); percent-encode",
		"https://proxy.golang.org,https://SECRET@corp":  "build-arg:GOPROXY entry 2 has a user name but no password",
		"https://proxy.example/?token=SECRET":           "build-arg:GOPROXY entry 1 has a query or fragment",
	} {
		_, err := ModuleEnv(map[string]string{"GOPROXY": goproxy})
		if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("GOPROXY=%s: %v, want %q and no value", goproxy, err, want)
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
