package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llbgen/llbgen/internal/testbed"
)

// A module proxy that wants a password: the password reaches the download
// stage, which fetches through the proxy, and nowhere else: not the pipe's
// definition, not --print, not a file in the output directory (provenance
// min or max), not the daemon's root (cache keys, build history, content
// store) or its log.
func TestProxyCredentialsStaySecret(t *testing.T) {
	bed := testbed.Require(t)
	const password = "SECRETPASSWORD4c1e9"
	proxy := testbed.StartModProxy(t, "llbgen", password)
	d := bed.StartDaemon(t)
	goImage := bed.GolangTrusting(t, proxy)
	list := writeList(t, strings.Replace(standInList(bed, bed.Musl()), bed.Golang(), goImage, 1))
	env := []string{"GOPROXY=" + proxy.GOPROXY(), "GONOSUMDB=", "GOPRIVATE=", "GOINSECURE="}
	var seen []string // everything llbgen printed
	run := func(args ...string) llbgenRun {
		t.Helper()
		cmd := llbgenCmd(t, d.Addr, args...)
		cmd.Env = append(cmd.Env, env...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		r := llbgenRun{stdout: out.String(), stderr: errb.String()}
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, r.stdout, r.stderr)
		return r
	}

	min, max := t.TempDir(), t.TempDir()
	if r := run("build", "-f", list, "--out", min, "--provenance", "--progress", "plain"); r.code != 0 {
		t.Fatalf("build --provenance: exit %d\n%s", r.code, tail(r.stderr, 30))
	}
	if proxy.Authenticated() == 0 {
		t.Fatalf("the build did not download through the proxy (%d requests refused)", proxy.Refused())
	}
	if r := run("build", "-f", list, "--out", max, "--provenance=max", "--progress", "plain"); r.code != 0 {
		t.Fatalf("build --provenance=max: exit %d\n%s", r.code, tail(r.stderr, 30))
	}
	for _, dir := range []string{min, max} {
		if p, _ := filepath.Glob(filepath.Join(dir, "*.json")); len(p) == 0 {
			t.Errorf("no provenance in %s", dir)
		}
	}
	if data, _ := os.ReadFile(filepath.Join(max, "provenance.json")); !bytes.Contains(data, []byte("GOPROXY")) {
		t.Error("provenance mode=max does not show the definition's GOPROXY secret: is it max?")
	}
	if r := run("build", "-f", list, "--print"); r.code != 0 {
		t.Fatalf("build --print: exit %d\n%s", r.code, r.stderr)
	}
	if r := run("lock", "-f", list, "--progress", "plain"); r.code != 0 {
		t.Fatalf("lock: exit %d\n%s", r.code, tail(r.stderr, 30))
	}
	os.Remove(list + ".lock") // the pipe below builds from references

	// The pipe, on a pruned daemon so that the download runs again.
	d.Prune(t)
	before := proxy.Authenticated()
	r := run("-f", list)
	if r.code != 0 {
		t.Fatalf("pipe: exit %d\n%s", r.code, r.stderr)
	}
	const flag = "--secret id=GOPROXY,env=GOPROXY"
	if !strings.Contains(r.stderr, flag) {
		t.Errorf("the pipe does not tell the user to add %s: %q", flag, r.stderr)
	}
	pipeOut := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, bed.Buildctl, "--addr", d.Addr, "build", "--progress", "plain",
		"--secret", "id=GOPROXY,env=GOPROXY", "--output", "type=local,dest="+pipeOut)
	build.Env = append(os.Environ(), env...)
	build.Stdin = strings.NewReader(r.stdout)
	if log, err := build.CombinedOutput(); err != nil {
		t.Fatalf("buildctl build %s: %v\n%s", flag, err, tail(string(log), 30))
	}
	if proxy.Authenticated() == before {
		t.Error("the pipe's build did not download through the proxy")
	}
	if countBinaries(t, pipeOut) != 1 {
		t.Errorf("the pipe built %d binaries, want 1", countBinaries(t, pipeOut))
	}

	for i, s := range seen {
		if strings.Contains(s, password) {
			t.Errorf("llbgen's output %d holds the password:\n%s", i, s)
		}
	}
	for _, dir := range []string{min, max, pipeOut, filepath.Dir(list)} {
		assertNotIn(t, dir, password)
	}
	d.Stop(false) // its databases flushed
	assertNotIn(t, d.Dir(), password)
}

func assertNotIn(t *testing.T, dir, secret string) {
	t.Helper()
	hits, err := testbed.FilesContaining(dir, []byte(secret))
	if err != nil {
		t.Fatalf("searching %s: %v", dir, err)
	}
	for _, h := range hits {
		t.Errorf("%s holds the password", h)
	}
}
