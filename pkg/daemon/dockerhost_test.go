package daemon

import (
	"os"
	"path/filepath"
	"testing"
)

// EnvDockerTLS finds the docker CLI's TLS files in DOCKER_CERT_PATH, else
// in its configuration directory (DOCKER_CONFIG), and tells a client
// certificate (cert.pem and key.pem) from server-only TLS (ca.pem alone).
func TestEnvDockerTLS(t *testing.T) {
	for _, c := range []struct {
		name, verify string
		files        []string
		certPath     bool // DOCKER_CERT_PATH names the directory; else DOCKER_CONFIG does
		tls, client  bool
		fails        bool
	}{
		{name: "no DOCKER_TLS_VERIFY", files: []string{"ca.pem", "cert.pem", "key.pem"}, certPath: true},
		{name: "server only", verify: "1", files: []string{"ca.pem"}, certPath: true, tls: true},
		{name: "no files", verify: "1", certPath: true, tls: true},
		{name: "mTLS", verify: "1", files: []string{"ca.pem", "cert.pem", "key.pem"}, certPath: true, tls: true, client: true},
		{name: "mTLS in DOCKER_CONFIG", verify: "1", files: []string{"ca.pem", "cert.pem", "key.pem"}, tls: true, client: true},
		{name: "server only in DOCKER_CONFIG", verify: "1", files: []string{"ca.pem"}, tls: true},
		{name: "cert without key", verify: "1", files: []string{"ca.pem", "cert.pem"}, certPath: true, fails: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, name := range c.files {
				if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			t.Setenv("DOCKER_TLS_VERIFY", c.verify)
			if c.certPath {
				t.Setenv("DOCKER_CERT_PATH", dir)
				t.Setenv("DOCKER_CONFIG", t.TempDir())
			} else {
				t.Setenv("DOCKER_CERT_PATH", "")
				t.Setenv("DOCKER_CONFIG", dir)
			}
			f, err := EnvDockerTLS()
			if (err != nil) != c.fails {
				t.Fatalf("error %v, want one: %v", err, c.fails)
			}
			if (f != nil) != c.tls || f.ClientCert() != c.client {
				t.Fatalf("%+v: TLS %v, client certificate %v; want %v, %v", f, f != nil, f.ClientCert(), c.tls, c.client)
			}
			if f != nil && f.Dir != dir {
				t.Errorf("files from %s, want %s", f.Dir, dir)
			}
		})
	}
}
