package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A GOPROXY whose credentials Go would print (a URL that does not parse, a
// token as the user name) or that hides a token in a query is bad input in
// every verb that downloads: exit 2 before any contact, the entry named by
// its place, the value nowhere.
func TestLeakyProxyIsRefused(t *testing.T) {
	proxies := []struct{ name, goproxy, want string }{
		{"invalid escape", "https://proxy.golang.org,https://user:p%zzSECRET@corp.example/",
			"llbgen: GOPROXY entry 2 is not a URL (invalid escape); percent-encode the user name and password (% as %25, a space as %20, @ as %40, : in the user name as %3A)\n"},
		{"space", "https://user:pa ssSECRET@corp.example/",
			"llbgen: GOPROXY entry 1 is not a URL (invalid character in the user name or password); percent-encode"},
		{"token as user", "https://SECRET@corp.example/",
			"llbgen: GOPROXY entry 1 has a user name but no password, and Go prints user names (in `go mod download -x` and its errors), hiding only passwords; put the secret in the password: https://USER:TOKEN@HOST/\n"},
		{"query", "https://corp.example/?token=SECRET",
			"llbgen: GOPROXY entry 1 has a query or fragment (?... or #...)"},
	}
	verbs := map[string][]string{
		"pipe":   nil,
		"build":  {"build", "--out", "out"},
		"lock":   {"lock"},
		"matrix": {"matrix"},
	}
	for verb, args := range verbs {
		for _, p := range proxies {
			t.Run(verb+"/"+p.name, func(t *testing.T) {
				clearModuleEnv(t)
				t.Setenv("BUILDKIT_HOST", "unix:///nonexistent/buildkitd.sock")
				t.Setenv("GOPROXY", p.goproxy)
				dir := dirWith(t, map[string]string{"targets.yaml": goodList})
				code, stdout, stderr := runCLI(t, dir, args...)
				if code != exitBadInput || stdout != "" {
					t.Errorf("exit %d, stdout %d bytes; want 2 and nothing\n%s", code, len(stdout), stderr)
				}
				if !strings.HasPrefix(stderr, p.want) {
					t.Errorf("stderr %q\nwant it to start %q", stderr, p.want)
				}
				if strings.Contains(stdout+stderr, "SECRET") {
					t.Errorf("the value was printed: %q", stderr)
				}
				if _, err := os.Stat(filepath.Join(dir, "out")); !os.IsNotExist(err) {
					t.Error("the output directory was created")
				}
			})
		}
	}
}
