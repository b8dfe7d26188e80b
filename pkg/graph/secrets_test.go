package graph

import (
	"bytes"
	"context"
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

func TestRedactProxy(t *testing.T) {
	got := RedactProxy("https://proxy.golang.org|https://u:SECRET@second.example/x,direct")
	if want := "https://proxy.golang.org|https://u:xxxxx@second.example/x,direct"; got != want {
		t.Errorf("got %q, want %q", got, want)
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
