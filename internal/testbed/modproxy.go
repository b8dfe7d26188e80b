package testbed

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/subtle"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// ModProxy is a Go module proxy on loopback, over HTTPS (Go sends
// credentials over nothing else), that requires HTTP basic auth and forwards
// what it is asked, the checksum database's /sumdb/ paths included, to the
// machine's own upstream proxy. BuildKit's containers use the host's
// network, so a download stage reaches it at 127.0.0.1; GolangTrusting makes
// a go image that trusts its certificate. It counts requests, so a test can
// tell that a build really went through it.
type ModProxy struct {
	User, Password string
	Addr           string // 127.0.0.1:PORT
	CA             string // PEM file of the CA that signed its certificate
	authed         atomic.Int64
	refused        atomic.Int64
}

// StartModProxy serves until the test ends.
func StartModProxy(t *testing.T, user, password string) *ModProxy {
	t.Helper()
	upstream, err := url.Parse(upstreamProxy())
	if err != nil {
		t.Fatalf("upstream module proxy: %v", err)
	}
	tlsFiles := MakeTLS(t, t.TempDir())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &ModProxy{User: user, Password: password, Addr: l.Addr().String(), CA: tlsFiles.CA}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(upstream)
		r.Out.Header.Del("Authorization") // the upstream gets none of ours
	}}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, pw, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(user)) != 1 || subtle.ConstantTimeCompare([]byte(pw), []byte(password)) != 1 {
			p.refused.Add(1)
			w.Header().Set("WWW-Authenticate", `Basic realm="llbgen test proxy"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		p.authed.Add(1)
		rp.ServeHTTP(w, r)
	})}
	go srv.ServeTLS(l, tlsFiles.ServerCert, tlsFiles.ServerKey)
	t.Cleanup(func() { srv.Close() })
	return p
}

// GOPROXY is the proxy's URL with its credentials, as a user would set it.
func (p *ModProxy) GOPROXY() string {
	return "https://" + url.UserPassword(p.User, p.Password).String() + "@" + p.Addr
}

// GolangTrusting pushes the test bed's go image plus the proxy's CA in
// /etc/ssl/certs (Go reads every file there) and returns its reference.
func (b *Bed) GolangTrusting(t *testing.T, p *ModProxy) string {
	t.Helper()
	ca, err := os.ReadFile(p.CA)
	if err != nil {
		t.Fatal(err)
	}
	return b.AppendLayer(t, b.Golang(), "llbgen-test/golang-modproxy",
		LayerFile{Header: tar.Header{Name: "etc/ssl/certs/llbgen-modproxy-ca.pem", Typeflag: tar.TypeReg}, Data: ca})
}

// Authenticated counts the requests that carried the right credentials.
func (p *ModProxy) Authenticated() int64 { return p.authed.Load() }

// Refused counts the requests without them.
func (p *ModProxy) Refused() int64 { return p.refused.Load() }

// upstreamProxy is the first proxy URL of this machine's `go env GOPROXY`.
func upstreamProxy() string {
	out, err := exec.Command("go", "env", "GOPROXY").Output()
	if err == nil {
		for _, e := range strings.FieldsFunc(strings.TrimSpace(string(out)), func(r rune) bool { return r == ',' || r == '|' }) {
			if e != "direct" && e != "off" {
				return e
			}
		}
	}
	return "https://proxy.golang.org"
}

// Dir is the directory holding everything of the private daemon: its root
// (content store, cache metadata, build history, snapshots) and its log.
func (d *Daemon) Dir() string { return filepath.Dir(d.root) }

// FilesContaining walks root and returns every regular file holding needle.
func FilesContaining(root string, needle []byte) ([]string, error) {
	var hits []string
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil // a daemon's temporary file, gone while walking
			}
			return err
		}
		if !e.Type().IsRegular() {
			return nil
		}
		found, err := fileContains(path, needle)
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		if found {
			hits = append(hits, path)
		}
		return nil
	})
	return hits, err
}

// fileContains reads path in chunks, keeping an overlap so that a needle
// across two chunks is found.
func fileContains(path string, needle []byte) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	buf := make([]byte, 0, 1<<20+len(needle))
	chunk := make([]byte, 1<<20)
	for {
		n, err := r.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if bytes.Contains(buf, needle) {
			return true, nil
		}
		if keep := len(needle) - 1; len(buf) > keep {
			buf = append(buf[:0], buf[len(buf)-keep:]...)
		}
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
}
