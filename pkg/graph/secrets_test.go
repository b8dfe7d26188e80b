package graph

import (
	"github.com/llbgen/llbgen/pkg/targets"

	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/client/llb"
)

func TestProxyHasCredentials(t *testing.T) {
	tests := []struct {
		goproxy string
		want    bool
	}{
		{"", false},
		{"https://proxy.golang.org,direct", false},
		{"off", false},
		{"https://user:pass@proxy.example", true},
		{"https://token@proxy.example", true},
		{"https://proxy.golang.org|https://u:p@second.example/x,direct", true},
		{"u:p@schemeless.example", true},
		{"https://proxy.example/%zz", true}, // unreadable: treated as secret
	}
	for _, tt := range tests {
		if got := ProxyHasCredentials(tt.goproxy); got != tt.want {
			t.Errorf("ProxyHasCredentials(%q) = %v, want %v", tt.goproxy, got, tt.want)
		}
	}
}

// User names are redacted with passwords (a token may be either), as are
// queries and fragments.
func TestRedactProxy(t *testing.T) {
	for in, want := range map[string]string{
		"https://proxy.golang.org|https://u:SECRET@second.example/x,direct": "https://proxy.golang.org|https://xxxxx@second.example/x,direct",
		"https://SECRET@proxy.example/":                                     "https://xxxxx@proxy.example/",
		"SECRET@proxy.example":                                              "https://xxxxx@proxy.example",
		"https://proxy.example/?token=SECRET#SECRET":                        "https://proxy.example/?xxxxx#xxxxx",
		"https://u:p%zzSECRET@proxy.example/,direct":                        "(unreadable),direct",
	} {
		if got := RedactProxy(in); got != want {
			t.Errorf("RedactProxy(%q) = %q, want %q", in, got, want)
		}
	}
}

// Entries whose credentials Go itself would print, or that llbgen would
// write in plain text, are refused, naming the entry by its place and never
// showing the value.
func TestCheckProxy(t *testing.T) {
	const encode = "percent-encode the user name and password (% as %25, a space as %20, @ as %40, : in the user name as %3A)"
	const password = "put the secret in the password: https://USER:TOKEN@HOST/"
	tests := []struct {
		goproxy, want string
	}{
		{"", ""},
		{"off", ""},
		{"https://proxy.golang.org,direct", ""},
		{"https://user:TOKEN@proxy.example/sub/,https://proxy.golang.org|direct", ""},
		{"user:TOKEN@proxy.example", ""},
		{"http://127.0.0.1:3000", ""},
		{"file:///srv/goproxy", ""},
		{"https://:TOKEN@proxy.example", ""},
		{"https://user:p%40ss%20w@proxy.example", ""}, // percent-encoded
		{"https://user:p%zzSECRET@proxy.example/", "GOPROXY entry 1 is not a URL (invalid escape); " + encode},
		{"https://proxy.golang.org,https://user:pa ssSECRET@proxy.example/", "GOPROXY entry 2 is not a URL (invalid character in the user name or password); " + encode},
		{"direct|https://pro xySECRET.example/", "GOPROXY entry 2 is not a URL (invalid character in the host); " + encode},
		{"https://proxy.example:SECRET/", "GOPROXY entry 1 is not a URL (invalid port); " + encode},
		{"https://proxy.example/\x01SECRET", "GOPROXY entry 1 is not a URL (control character); " + encode},
		{"https://SECRET@proxy.example", "GOPROXY entry 1 has a user name but no password, and Go prints user names (in `go mod download -x` and its errors), hiding only passwords; " + password},
		{"https://SECRET:@proxy.example", "GOPROXY entry 1 has a user name but no password, and Go prints user names (in `go mod download -x` and its errors), hiding only passwords; " + password},
		{"https://proxy.golang.org,,SECRET@proxy.example", "GOPROXY entry 2 has a user name but no password, and Go prints user names (in `go mod download -x` and its errors), hiding only passwords; " + password},
		{"https://proxy.example/?token=SECRET", "GOPROXY entry 1 has a query or fragment (?... or #...), which Go prints in its messages and llbgen would write into the build definition; " +
			"Go appends paths to a proxy URL, so a query is almost certainly a credential; put credentials in the URL's user information, the secret as the password: https://USER:TOKEN@HOST/, percent-encoding any ?, # or @ in them"},
		{"https://proxy.example/#SECRET", "GOPROXY entry 1 has a query or fragment"},
		{"https://proxy.example/?", "GOPROXY entry 1 has a query or fragment"},
		{"https://u:SE#CRET@proxy.example", "GOPROXY entry 1 is not a URL (invalid port)"},
	}
	for _, tt := range tests {
		err := CheckProxy(tt.goproxy, "")
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("CheckProxy(%q) refused: %v", tt.goproxy, err)
		case tt.want == "":
		case err == nil:
			t.Errorf("CheckProxy(%q) accepted it, want %q", tt.goproxy, tt.want)
		case !strings.HasPrefix(err.Error(), tt.want):
			t.Errorf("CheckProxy(%q) = %q, want %q", tt.goproxy, err, tt.want)
		case strings.Contains(err.Error(), "SECRET"):
			t.Errorf("CheckProxy(%q) shows the value: %q", tt.goproxy, err)
		}
	}
	// CheckSumDB, which every caller runs before anything, refuses them
	// too, locked or not, naming where the value came from.
	err := CheckSumDB(map[string]string{"GOPROXY": "https://SECRET@proxy.example"}, targets.HelperModule, true, "build-arg:")
	if err == nil || !strings.HasPrefix(err.Error(), "build-arg:GOPROXY entry 1 has a user name but no password") {
		t.Errorf("CheckSumDB: %v", err)
	}
	if _, err := Define(testList("docker:19.03.12"), Options{Env: map[string]string{"GOPROXY": "https://proxy.example/?token=SECRET"}}); err == nil {
		t.Error("Build took a GOPROXY with a query")
	}
	if _, err := Modules(testList("docker:19.03.12"), testList("docker:19.03.12").Helpers[0], Options{Env: map[string]string{"GOPROXY": "https://u:%zzSECRET@proxy.example"}}); err == nil {
		t.Error("Modules took a GOPROXY that is not a URL")
	}
}

// The download runs print every fetch (-x) only when GOPROXY is plain text:
// from the secret, Go would print a URL llbgen may never have seen.
func TestDownloadTraceOnlyWithPlainProxy(t *testing.T) {
	tests := []struct {
		name        string
		env         map[string]string
		proxySecret bool
		trace       bool
	}{
		{"no proxy", map[string]string{}, false, true},
		{"plain proxy", map[string]string{"GOPROXY": "https://proxy.example"}, false, true},
		{"credentials", map[string]string{"GOPROXY": "https://u:p@proxy.example"}, false, false},
		{"frontend, secret", map[string]string{}, true, false},
		{"frontend, plain build arg", map[string]string{"GOPROXY": "https://proxy.example"}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decode(t, mustBuild(t, testList("docker:19.03.12"), Options{Env: tt.env, ProxySecret: tt.proxySecret}).Output)
			for _, name := range []string{"download github.com/", "download the dependencies of "} {
				args := d.exec(t, name).GetExec().Meta.Args
				if got := slices.Contains(args, "-x"); got != tt.trace {
					t.Errorf("%s: args %q, want -x %v", name, args, tt.trace)
				}
				if want := "download"; !slices.Contains(args, want) {
					t.Errorf("%s: args %q", name, args)
				}
			}
		})
	}
}

// A GOPROXY with credentials is read from a secret: the password is nowhere
// in the definition, and both download steps mount the secret as GOPROXY.
func TestProxyCredentialsAreASecret(t *testing.T) {
	const password = "SECRETPASSWORD"
	env := map[string]string{"GOPROXY": "http://user:" + password + "@127.0.0.1:1/,direct", "GONOSUMDB": "corp.example"}
	g := mustBuild(t, testList("docker:19.03.12"), Options{Env: env})
	def, err := g.Output.Marshal(context.Background(), llb.Platform(DefaultPlatform()))
	if err != nil {
		t.Fatal(err)
	}
	for _, dt := range def.Def {
		if bytes.Contains(dt, []byte(password)) {
			t.Fatal("the password is in the definition")
		}
	}
	for _, m := range def.Metadata {
		for k, v := range m.Description {
			if strings.Contains(k+v, password) {
				t.Fatal("the password is in the definition's metadata")
			}
		}
	}
	d := decode(t, g.Output)
	for _, name := range []string{"download github.com/", "download the dependencies of "} {
		ex := d.exec(t, name).GetExec()
		if _, ok := envOf(d.exec(t, name))["GOPROXY"]; ok {
			t.Errorf("%s: GOPROXY is plain env", name)
		}
		if envOf(d.exec(t, name))["GONOSUMDB"] != "corp.example" {
			t.Errorf("%s: the other settings are still passed", name)
		}
		if len(ex.Secretenv) != 1 || ex.Secretenv[0].ID != ProxySecretID || ex.Secretenv[0].Name != "GOPROXY" || ex.Secretenv[0].Optional {
			t.Errorf("%s: secret env %v, want the required secret %s as GOPROXY", name, ex.Secretenv, ProxySecretID)
		}
	}
}

func TestProxySecret(t *testing.T) {
	tests := []struct {
		name             string
		env              map[string]string
		proxySecret      bool
		plain            string // GOPROXY as plain env, "" for none
		secret, optional bool
	}{
		{name: "no proxy", env: map[string]string{}},
		{name: "plain proxy", env: map[string]string{"GOPROXY": "https://proxy.example"}, plain: "https://proxy.example"},
		{name: "frontend, no build arg", env: map[string]string{}, proxySecret: true, secret: true, optional: true},
		{name: "frontend, plain build arg", env: map[string]string{"GOPROXY": "https://proxy.example"}, proxySecret: true, plain: "https://proxy.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decode(t, mustBuild(t, testList("docker:19.03.12"), Options{Env: tt.env, ProxySecret: tt.proxySecret}).Output)
			op := d.exec(t, "download github.com/")
			if got := envOf(op)["GOPROXY"]; got != tt.plain {
				t.Errorf("plain GOPROXY %q, want %q", got, tt.plain)
			}
			se := op.GetExec().Secretenv
			if (len(se) == 1) != tt.secret || (tt.secret && se[0].Optional != tt.optional) {
				t.Errorf("secret env %v, want secret %v optional %v", se, tt.secret, tt.optional)
			}
		})
	}
}
