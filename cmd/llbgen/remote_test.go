package main

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llbgen/llbgen/internal/testbed"
)

// A tcp:// daemon that requires TLS client certificates: reachable with
// --tlscacert/--tlscert/--tlskey, refused (fast, clearly) without them.
func TestBuildOverTCPWithTLS(t *testing.T) {
	bed := testbed.Require(t)
	tlsFiles := testbed.MakeTLS(t, t.TempDir())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "tcp://" + l.Addr().String()
	l.Close()
	d := bed.StartDaemonWith(t, testbed.Daemon{
		Addr:       addr,
		Args:       []string{"--tlscacert", tlsFiles.CA, "--tlscert", tlsFiles.ServerCert, "--tlskey", tlsFiles.ServerKey},
		ClientArgs: []string{"--tlscacert", tlsFiles.CA, "--tlscert", tlsFiles.ClientCert, "--tlskey", tlsFiles.ClientKey},
	})
	list := writeList(t, standInList(bed, bed.Musl()))

	out := t.TempDir()
	r := runLLBGen(t, "", "build", "-f", list, "--out", out, "--addr", d.Addr, "--progress", "quiet")
	if r.code != 1 || !strings.Contains(r.stderr, "cannot reach a BuildKit daemon at "+d.Addr) {
		t.Errorf("without certificates: exit %d, want 1 and 'cannot reach':\n%s", r.code, r.stderr)
	}
	r = runLLBGen(t, "", "build", "-f", list, "--out", out, "--addr", d.Addr, "--progress", "quiet",
		"--tlscacert", tlsFiles.CA, "--tlscert", tlsFiles.ClientCert, "--tlskey", tlsFiles.ClientKey)
	if r.code != 0 {
		t.Fatalf("with certificates: exit %d\n%s", r.code, r.stderr)
	}
	assertStatic(t, filepath.Join(out, "docker-credential-ecr-login-docker_19.03.12"))
	assertSumsOK(t, out)
}

// A registry that wants a password: images resolve with the credentials of
// the user's Docker config, and are refused without them.
func TestBuildUsesRegistryCredentials(t *testing.T) {
	bed := testbed.Require(t)
	upstream, err := url.Parse("http://" + bed.Registry)
	if err != nil {
		t.Fatal(err)
	}
	const user, pass = "ci", "s3cret"
	proxy := httputil.NewSingleHostReverseProxy(upstream)
	var authorised atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="llbgen-test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		authorised.Add(1)
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	// A tag of its own, so nothing is already in the daemon's cache.
	image := fmt.Sprintf("%s/library/docker:19.03.12", host)
	list := writeList(t, standInList(bed, image))
	out := t.TempDir()

	noCreds := t.TempDir()
	writeFile(t, filepath.Join(noCreds, "config.json"), "{}")
	t.Setenv("DOCKER_CONFIG", noCreds)
	r := runLLBGen(t, bed.Addr, "build", "-f", list, "--out", out, "--progress", "quiet")
	if r.code != 1 || !strings.Contains(r.stderr, "not found or not authorised") {
		t.Errorf("without credentials: exit %d, want 1 and 'not authorised':\n%s", r.code, tail(r.stderr, 6))
	}

	creds := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	writeFile(t, filepath.Join(creds, "config.json"), fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, host, auth))
	t.Setenv("DOCKER_CONFIG", creds)
	start := time.Now()
	r = runLLBGen(t, bed.Addr, "build", "-f", list, "--out", out, "--progress", "quiet")
	if r.code != 0 {
		t.Fatalf("with credentials: exit %d after %s\n%s", r.code, time.Since(start), tail(r.stderr, 10))
	}
	if authorised.Load() == 0 {
		t.Error("the registry saw no request with the credentials")
	}
	if !strings.Contains(r.stderr, image+"@sha256:") {
		t.Errorf("the summary does not show the resolved digest:\n%s", r.stderr)
	}
	if authorised.Load() == 0 {
		t.Error("the registry saw no request with the credentials")
	}
	assertSumsOK(t, out)
}
