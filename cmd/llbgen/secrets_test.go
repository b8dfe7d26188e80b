package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llbgen/llbgen/internal/testbed"
)

// The secret is found however it is encoded in a file: raw, URL-escaped,
// hex, and base64 wherever it starts in the encoded bytes (a DSSE
// envelope's payload), split across the search's reads or not.
func TestSecretFormsFindEncodedSecret(t *testing.T) {
	const secret = "SECRETPASSWORD4c1e9"
	dir := t.TempDir()
	var want []string
	write := func(name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		want = append(want, name)
	}
	for k := range 3 {
		payload := []byte(strings.Repeat("{", 1000+k) + `"GOPROXY":"https://u:` + secret + `@proxy/"}`)
		write(fmt.Sprintf("std-%d.json", k), []byte(`{"payloadType":"application/vnd.in-toto+json","payload":"`+base64.StdEncoding.EncodeToString(payload)+`"}`))
		write(fmt.Sprintf("url-%d", k), []byte(base64.URLEncoding.EncodeToString(payload)))
	}
	// across the 1 MiB reads
	write("split", append(bytes.Repeat([]byte{'x'}, 1<<20-5), secret...))
	write("hex", []byte(hex.EncodeToString([]byte("p="+secret))))
	write("clean", []byte(base64.StdEncoding.EncodeToString([]byte("SECRETPASSWORD4c1e"))+" SECRETPASSWORD4c1e"))
	want = want[:len(want)-1]
	hits, err := filesContainingAny(dir, secretForms(secret))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, h := range hits {
		got[filepath.Base(h.path)] = true
	}
	for _, name := range want {
		if !got[name] {
			t.Errorf("%s: the secret is not found (hits %v)", name, hits)
		}
	}
	if got["clean"] {
		t.Error("a file without the secret is a hit")
	}
}

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

// assertNotIn fails for every file under dir that holds the secret in
// any of its encodings (see secretForms): provenance and attestations are
// base64 in in-toto (DSSE) envelopes, URLs are escaped.
func assertNotIn(t *testing.T, dir, secret string) {
	t.Helper()
	hits, err := filesContainingAny(dir, secretForms(secret))
	if err != nil {
		t.Fatalf("searching %s: %v", dir, err)
	}
	for _, h := range hits {
		t.Errorf("%s holds the password (%s)", h.path, h.form)
	}
}

// secretForms is the secret as it may be written: raw, URL-escaped, and
// base64 (standard and URL alphabets) at each of the three alignments it
// can have inside a longer encoded text. An aligned form keeps only the
// characters that the secret's bits alone decide.
func secretForms(secret string) map[string]string {
	forms := map[string]string{}
	add := func(needle, form string) {
		if _, ok := forms[needle]; !ok {
			forms[needle] = form
		}
	}
	add(secret, "raw")
	add(url.QueryEscape(secret), "URL-escaped")
	add(url.PathEscape(secret), "URL-escaped")
	add(hex.EncodeToString([]byte(secret)), "hex")
	for _, enc := range []struct {
		name string
		enc  *base64.Encoding
	}{{"base64", base64.StdEncoding}, {"base64url", base64.URLEncoding}} {
		for k := range 3 {
			text := enc.enc.EncodeToString(append(make([]byte, k), secret...))
			first := (8*k + 5) / 6            // the first character without bits of the k bytes before
			last := (8*(k+len(secret)))/6 - 1 // the last with none of what follows
			add(text[first:last+1], fmt.Sprintf("%s at offset %d", enc.name, k))
		}
	}
	return forms
}

type hit struct{ path, form string }

// filesContainingAny reads every regular file under root once, looking
// for each needle (form by needle), across chunk boundaries.
func filesContainingAny(root string, needles map[string]string) ([]hit, error) {
	longest := 0
	for n := range needles {
		longest = max(longest, len(n))
	}
	var hits []hit
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // a daemon's temporary file, gone while walking
			}
			return err
		}
		if !e.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		defer f.Close()
		found := map[string]bool{}
		buf := make([]byte, 0, 1<<20+longest)
		for {
			n, rerr := f.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			for needle, form := range needles {
				if !found[form] && bytes.Contains(buf, []byte(needle)) {
					found[form] = true
					hits = append(hits, hit{path, form})
				}
			}
			if rerr == io.EOF {
				return nil
			}
			if rerr != nil {
				return rerr
			}
			if keep := longest - 1; len(buf) > keep {
				buf = buf[:copy(buf, buf[len(buf)-keep:])]
			}
		}
	})
	return hits, err
}
