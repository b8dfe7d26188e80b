package graph

import (
	"net/url"
	"strings"

	"github.com/moby/buildkit/client/llb"
)

// ProxySecretID is the BuildKit secret that carries GOPROXY into the download
// stage when it holds credentials: a secret never enters the definition, the
// cache keys, the build history or a provenance attestation.
const ProxySecretID = "GOPROXY"

// ProxyHasCredentials reports whether a GOPROXY list names a proxy with
// userinfo (https://user:token@host/). An entry that does not parse counts,
// so that nothing unreadable is ever written in plain text.
func ProxyHasCredentials(goproxy string) bool {
	for _, e := range proxyEntries(goproxy) {
		u, err := url.Parse(e)
		if err != nil || u.User != nil {
			return true
		}
	}
	return false
}

// RedactProxy is goproxy with every password shown as xxxxx, for messages.
func RedactProxy(goproxy string) string {
	var b strings.Builder
	start := 0
	for i := 0; i <= len(goproxy); i++ {
		if i < len(goproxy) && goproxy[i] != ',' && goproxy[i] != '|' {
			continue
		}
		e := goproxy[start:i]
		if u, err := url.Parse(withScheme(strings.TrimSpace(e))); err != nil {
			e = "(unreadable)"
		} else if u.User != nil {
			e = u.Redacted()
		}
		b.WriteString(e)
		if i < len(goproxy) {
			b.WriteByte(goproxy[i])
		}
		start = i + 1
	}
	return b.String()
}

// proxyEntries splits a GOPROXY list, as Go does, into URLs; "direct" and
// "off" are left out and a URL without a scheme gets https, as Go assumes.
func proxyEntries(goproxy string) []string {
	var out []string
	for _, e := range strings.FieldsFunc(goproxy, func(r rune) bool { return r == ',' || r == '|' }) {
		e = strings.TrimSpace(e)
		if e == "" || e == "direct" || e == "off" {
			continue
		}
		out = append(out, withScheme(e))
	}
	return out
}

func withScheme(e string) string {
	if e == "" || e == "direct" || e == "off" || strings.Contains(e, "://") {
		return e
	}
	return "https://" + e
}

// proxyFromSecret reports how the download stage gets GOPROXY: from the
// secret when it carries credentials (required) or when the caller has
// only a secret to offer (optional: a build without one keeps Go's default).
func (b *builder) proxyFromSecret() (use, optional bool) {
	v := b.opt.Env["GOPROXY"]
	switch {
	case v != "" && ProxyHasCredentials(v):
		return true, false
	case v == "" && b.opt.ProxySecret:
		return true, true
	}
	return false, false
}

// proxySecret hands the download stage GOPROXY from the secret, when it
// comes from one.
func (b *builder) proxySecret() []llb.RunOption {
	use, optional := b.proxyFromSecret()
	if !use {
		return nil
	}
	opts := []llb.SecretOption{llb.SecretID(ProxySecretID), llb.SecretAsEnv(true)}
	if optional {
		opts = append(opts, llb.SecretOptional)
	}
	return []llb.RunOption{llb.AddSecret("GOPROXY", opts...)}
}
