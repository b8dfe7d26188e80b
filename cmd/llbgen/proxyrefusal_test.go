package main

import (
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
	for _, p := range proxies {
		refusedByEveryVerb(t, p.name, "GOPROXY", p.goproxy, func(t *testing.T, stderr string) {
			if !strings.HasPrefix(stderr, p.want) {
				t.Errorf("stderr %q\nwant it to start %q", stderr, p.want)
			}
			if strings.Contains(stderr, "SECRET") {
				t.Errorf("the value was printed: %q", stderr)
			}
		})
	}
}
