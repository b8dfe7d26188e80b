package graph

import (
	"github.com/llbgen/llbgen/pkg/targets"

	"errors"
	"strings"
	"testing"
)

func TestCheckSumDB(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		locked  bool
		refused string // the variable named, "" for accepted
		pattern string
	}{
		{name: "nothing set", env: map[string]string{}},
		{name: "other modules", env: map[string]string{"GONOSUMDB": "corp.example.com,*.internal"}},
		{name: "a dependency only", env: map[string]string{"GONOSUMDB": "github.com/aws/aws-sdk-go-v2"}},
		{name: "everything", env: map[string]string{"GONOSUMDB": "*"}, refused: "GONOSUMDB", pattern: "*"},
		{name: "host glob", env: map[string]string{"GONOSUMDB": "corp.example.com, github.com/*"}, refused: "GONOSUMDB", pattern: "github.com/*"},
		{name: "owner prefix", env: map[string]string{"GONOSUMDB": "github.com/awslabs"}, refused: "GONOSUMDB", pattern: "github.com/awslabs"},
		{name: "the module", env: map[string]string{"GONOSUMDB": "github.com/awslabs/amazon-ecr-credential-helper/ecr-login"}, refused: "GONOSUMDB", pattern: "github.com/awslabs/amazon-ecr-credential-helper/ecr-login"},
		{name: "a longer path does not match", env: map[string]string{"GONOSUMDB": "github.com/awslabs/amazon-ecr-credential-helper/ecr-login/api"}},
		{name: "GOPRIVATE when GONOSUMDB is empty", env: map[string]string{"GOPRIVATE": "github.com/awslabs/*"}, refused: "GOPRIVATE", pattern: "github.com/awslabs/*"},
		{name: "GOPRIVATE with an empty GONOSUMDB", env: map[string]string{"GOPRIVATE": "*", "GONOSUMDB": ""}, refused: "GOPRIVATE", pattern: "*"},
		// As in Go: a GONOSUMDB, when set, replaces GOPRIVATE for this decision.
		{name: "GONOSUMDB overrides GOPRIVATE", env: map[string]string{"GOPRIVATE": "*", "GONOSUMDB": "corp.example.com"}},
		{name: "GOINSECURE keeps the check", env: map[string]string{"GOINSECURE": "*"}},
		{name: "GOSUMDB is not passed", env: map[string]string{"GOSUMDB": "off"}},
		{name: "locked", env: map[string]string{"GONOSUMDB": "*"}, locked: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckSumDB(tt.env, targets.HelperModule, tt.locked, "")
			if tt.refused == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var se *SumDBError
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want a SumDBError", err)
			}
			if se.Var != tt.refused || se.Pattern != tt.pattern {
				t.Errorf("names %s pattern %q, want %s pattern %q", se.Var, se.Pattern, tt.refused, tt.pattern)
			}
			msg := err.Error()
			for _, want := range []string{tt.refused + "=", "checksum database", "narrow " + tt.refused, "llbgen lock"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message lacks %q: %s", want, msg)
				}
			}
		})
	}
}

// Every way of building goes through the graph, which refuses too.
func TestBuildRefusesSkippedSumDB(t *testing.T) {
	list := testList("docker:19.03.12")
	env := map[string]string{"GOPRIVATE": "github.com/*"}
	if _, err := Define(list, Options{Env: env}); !errors.As(err, new(*SumDBError)) {
		t.Errorf("Build: %v, want a SumDBError", err)
	}
	if _, err := Modules(list, list.Helpers[0], Options{Env: env}); !errors.As(err, new(*SumDBError)) {
		t.Errorf("Modules: %v, want a SumDBError", err)
	}
	if _, err := Define(list, Options{Env: env, Locked: ecrLocked(LockedModule{Sum: "h1:abc="})}); err != nil {
		t.Errorf("Build with a locked hash: %v", err)
	}
}

// The refusal follows the helper's module: a pattern that spares
// ecr-login's module but covers gcr's refuses a gcr list.
func TestCheckSumDBFollowsTheModule(t *testing.T) {
	env := map[string]string{"GONOSUMDB": "github.com/GoogleCloudPlatform"}
	gcr, _ := targets.KnownHelper("gcr")
	if err := CheckSumDB(env, targets.HelperModule, false, ""); err != nil {
		t.Errorf("ecr-login refused: %v", err)
	}
	err := CheckSumDB(env, gcr.Module, false, "")
	var se *SumDBError
	if !errors.As(err, &se) || se.Module != gcr.Module || !strings.Contains(err.Error(), gcr.Module) {
		t.Errorf("gcr: %v, want a refusal naming %s", err, gcr.Module)
	}
}
