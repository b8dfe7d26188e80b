package plan

import (
	"errors"
	"strings"
	"testing"

	"github.com/llbgen/llbgen/pkg/targets"
)

// buildArgs is how the frontend gives its build arguments to the plan.
func buildArgs(list *targets.List, args map[string]string) Input {
	return Input{List: list, Env: args, SourceDateEpoch: args["SOURCE_DATE_EPOCH"], From: "build-arg:", ProxySecret: true}
}

func TestModuleSettings(t *testing.T) {
	list := parse(t, threeTargets)
	p, err := Make(t.Context(), buildArgs(list, map[string]string{"GOPROXY": "https://proxy.example", "GONOSUMDB": "corp.example", "HELPER_VERSION": "v0.12.0", "SOURCE_DATE_EPOCH": "1700000000"}), Daemon{})
	if err != nil {
		t.Fatal(err)
	}
	env := p.Graph.Env
	if len(env) != 2 || env["GOPROXY"] != "https://proxy.example" || env["GONOSUMDB"] != "corp.example" {
		t.Errorf("env %v", env)
	}
	if p.Graph.SourceDateEpoch == nil || *p.Graph.SourceDateEpoch != 1700000000 || !p.Graph.ProxySecret {
		t.Errorf("graph options %+v", p.Graph)
	}

	// Build arguments land in the build's history and provenance.
	err = Check(buildArgs(list, map[string]string{"GOPROXY": "https://user:SECRET@proxy.example"}))
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
	// llbgen's own environment passes it on as a secret.
	if err := Check(Input{List: list, Env: map[string]string{"GOPROXY": "https://user:SECRET@proxy.example"}}); err != nil {
		t.Errorf("from the environment: %v", err)
	}
}

// A GOPROXY that Go would print (a URL that does not parse, a token as
// the user name) or that hides a token in its query is refused, naming the
// entry, not the value.
func TestModuleSettingsRefuseLeakyProxy(t *testing.T) {
	for goproxy, want := range map[string]string{
		"https://user:p%zzSECRET@proxy.example/,direct": "build-arg:GOPROXY entry 1 is not a URL (invalid escape); percent-encode",
		"https://proxy.golang.org,https://SECRET@corp":  "build-arg:GOPROXY entry 2 has a user name but no password",
		"https://proxy.example/?token=SECRET":           "build-arg:GOPROXY entry 1 has a query or fragment",
	} {
		err := Check(buildArgs(parse(t, threeTargets), map[string]string{"GOPROXY": goproxy}))
		if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("GOPROXY=%s: %v, want %q and no value", goproxy, err, want)
		}
	}
}

// Settings that would skip the checksum database for the helper are bad
// input, named as they were given, unless a lock pins the module's hash.
func TestModuleSettingsChecksumDatabase(t *testing.T) {
	list := parse(t, threeTargets)
	in := buildArgs(list, map[string]string{"GOPRIVATE": "github.com/awslabs"})
	err := Check(in)
	var e *Error
	if !errors.As(err, &e) || !e.BadInput || !strings.HasPrefix(err.Error(), `build-arg:GOPRIVATE=github.com/awslabs: pattern "github.com/awslabs" matches`) {
		t.Errorf("got %v", err)
	}
	in.Lock, in.LockPath = lockFor(t, list, amd64), "targets.yaml.lock"
	if err := Check(in); err != nil {
		t.Errorf("locked: %v", err)
	}
	// llbgen lock records what the checksum database vouched for.
	in.Locking = true
	if err := Check(in); err == nil {
		t.Error("locking with GOPRIVATE covering the helper was accepted")
	}
}

func TestSourceDateEpoch(t *testing.T) {
	err := Check(Input{List: parse(t, threeTargets), SourceDateEpoch: "yesterday"})
	var e *Error
	if !errors.As(err, &e) || !e.BadInput || !strings.HasPrefix(err.Error(), `SOURCE_DATE_EPOCH "yesterday": want whole seconds since 1970`) {
		t.Errorf("got %v", err)
	}
	err = Check(buildArgs(parse(t, threeTargets), map[string]string{"SOURCE_DATE_EPOCH": "-1"}))
	if err == nil || !strings.HasPrefix(err.Error(), `build-arg:SOURCE_DATE_EPOCH "-1"`) {
		t.Errorf("got %v", err)
	}
}
