package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/containerd/console"
	"github.com/moby/buildkit/solver/pb"

	"github.com/llbgen/llbgen/pkg/plan"
	"github.com/llbgen/llbgen/pkg/targets"
)

var update = flag.Bool("update", false, "rewrite golden files")

const goodList = `helper:
  version: v0.12.0
targets:
  - image: docker:19.03.12
  - image: gitlab/gitlab-runner:v13.2.1
`

// runCLI runs llbgen in-process, in dir, and returns its results.
func runCLI(t *testing.T, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	if dir != "" {
		t.Chdir(dir)
	}
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func dirWith(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestBadInputExits2WithNothingOnStdout(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		args  []string
		want  string // regexp on stderr
	}{
		{"unknown key", map[string]string{"targets.yaml": goodList + "  - image: a:1\n    platform: x\n"}, nil,
			`^targets\.yaml:7:5: .*unknown key "platform"`},
		{"no version", map[string]string{"targets.yaml": "helper: {}\ntargets:\n  - image: a:1\n"}, nil,
			`^targets\.yaml:1:\d+: .*version`},
		{"other file", map[string]string{"ci.yaml": "helper:\n  version: 0.12.0\ntargets:\n  - image: a:1\n"}, []string{"-f", "ci.yaml"},
			`^ci\.yaml:2:12: .*v0\.12\.0`},
		{"missing file", nil, nil, `no target list at targets\.yaml`},
		{"name before image", nil, []string{"--name", "x", "--image", "a:1"}, `--name must follow the --image`},
		{"two names", nil, []string{"--image", "a:1", "--name", "x", "--name", "y"}, `already has the name "x"`},
		{"bad image flag", nil, []string{"--image", "Bad:Ref"}, `^--image:1:1: .*Bad:Ref`},
		{"bad name flag", nil, []string{"--image", "a:1", "--name", "../x"}, `^--image:1:1: .*\.\./x`},
		{"duplicate from flags", nil, []string{"--image", "a:1", "--image", "b/a:1"}, `^--image:2:1: .*a_1`},
		{"bad helper version", map[string]string{"targets.yaml": goodList}, []string{"--helper-version", "latest"}, `^--helper-version:1:1: `},
		{"unknown flag", nil, []string{"--nope"}, `unknown flag`},
		{"argument", nil, []string{"targets.yaml"}, `unknown command|accepts 0 arg`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, dirWith(t, tc.files), tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2; stderr:\n%s", code, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout not empty: %d bytes", len(stdout))
			}
			if !regexp.MustCompile(tc.want).MatchString(stderr) {
				t.Errorf("stderr %q does not match %q", stderr, tc.want)
			}
		})
	}
}

// decodeDef checks stdout holds an LLB definition and returns its image refs.
func decodeDef(t *testing.T, data string) []string {
	t.Helper()
	var def pb.Definition
	if err := def.Unmarshal([]byte(data)); err != nil || len(def.Def) == 0 {
		t.Fatalf("stdout is not an LLB definition: %v", err)
	}
	var refs []string
	for _, dt := range def.Def {
		var op pb.Op
		if err := op.Unmarshal(dt); err != nil {
			t.Fatal(err)
		}
		if src := op.GetSource(); src != nil && strings.HasPrefix(src.Identifier, "docker-image://") {
			refs = append(refs, strings.TrimPrefix(src.Identifier, "docker-image://"))
		}
	}
	return refs
}

func TestWritesDefinition(t *testing.T) {
	dir := dirWith(t, map[string]string{"targets.yaml": goodList})
	code, stdout, stderr := runCLI(t, dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	refs := strings.Join(decodeDef(t, stdout), " ")
	for _, want := range []string{"docker.io/library/docker:19.03.12", "docker.io/gitlab/gitlab-runner:v13.2.1", "docker.io/library/golang:1.26"} {
		if !strings.Contains(refs, want) {
			t.Errorf("definition images %q lack %s", refs, want)
		}
	}
	_, again, _ := runCLI(t, dir)
	if again != stdout {
		t.Error("two runs on the same list wrote different definitions")
	}
}

func TestImageFlagsReplaceTheFileTargets(t *testing.T) {
	dir := dirWith(t, map[string]string{"targets.yaml": strings.Replace(goodList, "targets:", "go: example.com/go:1\ntargets:", 1)})
	code, stdout, stderr := runCLI(t, dir, "--image", "alpine:3.12", "--name", "alpine")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	refs := strings.Join(decodeDef(t, stdout), " ")
	if !strings.Contains(refs, "docker.io/library/alpine:3.12") || strings.Contains(refs, "docker:19.03.12") {
		t.Errorf("definition images %q: want alpine:3.12 only", refs)
	}
	if !strings.Contains(refs, "example.com/go:1") {
		t.Errorf("definition images %q: the file's go image should still apply", refs)
	}
}

func TestRefusesTerminal(t *testing.T) {
	pty, slave, err := console.NewPty()
	if err != nil {
		t.Skipf("skipping: no pseudo-terminal here: %v", err)
	}
	defer pty.Close()
	tty, err := os.OpenFile(slave, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	t.Chdir(dirWith(t, map[string]string{"targets.yaml": goodList}))
	var stderr bytes.Buffer
	if code := run(context.Background(), nil, tty, &stderr); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "refusing to write a binary LLB definition to a terminal") {
		t.Errorf("stderr: %s", stderr.String())
	}
}

func TestHelpGolden(t *testing.T) {
	code, stdout, stderr := runCLI(t, "", "--help")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	golden := filepath.Join(testdata, "help.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(stdout), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if stdout != string(want) {
		t.Errorf("--help changed; review and run go test ./cmd/llbgen -run Help -update\ngot:\n%s", stdout)
	}
	for _, flag := range []string{"--file", "--image", "--name", "--helper-version"} {
		if !strings.Contains(stdout, flag) {
			t.Errorf("--help does not explain %s", flag)
		}
	}
}

// `llbgen build` refuses bad flags before contacting a daemon or writing
// anything: exit 2, no output directory.
func TestBuildBadInputExits2(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"list is a directory", []string{"-f", "."}, nil, `reading \.: .*is a directory`},
		{"out is a file", []string{"--out", "targets.yaml"}, nil, `--out targets\.yaml exists and is not a directory`},
		{"missing ca", []string{"--addr", "tcp://127.0.0.1:1", "--tlscacert", "nope.pem"}, nil, `--tlscacert: .*nope\.pem`},
		{"cert without key", []string{"--tlscert", "targets.yaml"}, nil, `--tlscert and --tlskey go together`},
		{"unknown scheme", []string{"--addr", "foo://bar"}, nil, `--addr "foo://bar": want an address`},
		{"bad BUILDKIT_HOST", nil, map[string]string{"BUILDKIT_HOST": "localhost:1234"}, `BUILDKIT_HOST "localhost:1234"`},
		{"tty without terminal", []string{"--progress", "tty"}, nil, `--progress tty: standard error is not a terminal`},
		{"bad BUILDKIT_PROGRESS", nil, map[string]string{"BUILDKIT_PROGRESS": "fancy"}, `BUILDKIT_PROGRESS "fancy"`},
		{"bad SOURCE_DATE_EPOCH", nil, map[string]string{"SOURCE_DATE_EPOCH": "yesterday"}, `^llbgen: SOURCE_DATE_EPOCH "yesterday": want whole seconds since 1970`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("BUILDKIT_HOST", "")
			t.Setenv("BUILDKIT_PROGRESS", "")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			dir := dirWith(t, map[string]string{"targets.yaml": goodList})
			assertBadInput(t, dir, tc.want, append([]string{"build", "--out", "out"}, tc.args...)...)
		})
	}
}

// The plan's refusals: bad input exits 2, printed as a list refusal when
// it names its place in the list; what the daemon answered exits 1.
func TestPlanRefusalExitCodes(t *testing.T) {
	at := targets.Pos{File: "targets.yaml", Line: 3, Col: 1}
	for _, c := range []struct {
		err    error
		code   int
		stderr string
	}{
		{&plan.Error{Err: errors.New("go image x has no Go toolchain"), Pos: at, BadInput: true}, 2, "targets.yaml:3:1: go image x has no Go toolchain\n"},
		{fmt.Errorf("wrapped: %w", &plan.Error{Err: errors.New("GONOSUMDB=*: pattern"), BadInput: true}), 2, "llbgen: wrapped: GONOSUMDB=*: pattern\n"},
		{&plan.Error{Err: errors.New("targets.yaml.lock is for linux/arm64")}, 1, "llbgen: targets.yaml.lock is for linux/arm64\n"},
	} {
		var stderr bytes.Buffer
		if code := exitCode(c.err, &stderr); code != c.code || stderr.String() != c.stderr {
			t.Errorf("%v: exit %d, stderr %q; want %d, %q", c.err, code, stderr.String(), c.code, c.stderr)
		}
	}
}

// The committed targets.schema.json is what `llbgen schema` prints.
func TestSchemaFileIsCurrent(t *testing.T) {
	code, stdout, stderr := runCLI(t, "", "schema")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	path := filepath.Join(testdata, "..", "..", "..", "targets.schema.json")
	if *update {
		if err := os.WriteFile(path, []byte(stdout), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if stdout != string(want) {
		t.Error("targets.schema.json is stale: run go run ./cmd/llbgen schema > targets.schema.json")
	}
}

// assertBadInput runs llbgen with args in dir and holds it to what bad
// input gets: exit 2, nothing on stdout, stderr matching the regular
// expression want, and no output directory (dir/out) made.
func assertBadInput(t *testing.T, dir, want string, args ...string) {
	t.Helper()
	code, stdout, stderr := runCLI(t, dir, args...)
	if code != 2 || stdout != "" {
		t.Errorf("exit %d, stdout %q; want 2 and nothing", code, stdout)
	}
	if !regexp.MustCompile(want).MatchString(stderr) {
		t.Errorf("stderr %q does not match %q", stderr, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); !os.IsNotExist(err) {
		t.Error("the output directory was created")
	}
}
