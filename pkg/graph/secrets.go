package graph

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"strings"

	"github.com/moby/buildkit/client/llb"
)

// ProxySecretID is the BuildKit secret that carries GOPROXY into the download
// stage when it holds credentials: a secret never enters the definition, the
// cache keys, the build history or a provenance attestation.
const ProxySecretID = "GOPROXY"

// ProxyHasCredentials reports whether a GOPROXY list names a proxy with
// userinfo (https://user:token@host/). An entry that does not parse counts,
// so that nothing unreadable is ever written in plain text (CheckProxy
// refuses such an entry before anything runs).
func ProxyHasCredentials(goproxy string) bool {
	for _, e := range proxyEntries(goproxy) {
		u, err := url.Parse(e)
		if err != nil || u.User != nil {
			return true
		}
	}
	return false
}

// ProxyError refuses a GOPROXY entry whose credentials Go itself would
// print (in `go mod download -x`, in its errors) or that would go into the
// definition in plain text. It never holds the value: only the entry's
// place in the list and what is wrong with it.
type ProxyError struct {
	From    string // "" for llbgen's environment, "build-arg:" for the frontend's build arguments
	Index   int    // 1-based place of the entry in the list
	Problem string
	Fix     string
}

func (e *ProxyError) Error() string {
	return fmt.Sprintf("%sGOPROXY entry %d %s; %s", e.From, e.Index, e.Problem, e.Fix)
}

const userinfoFix = "put credentials in the URL's user information, the secret as the password: https://USER:TOKEN@HOST/"

// CheckProxy refuses GOPROXY entries that would leak credentials:
//   - one that does not parse as a URL: Go's error quotes the whole raw URL;
//   - a user name with no password (https://TOKEN@host/): Go's messages
//     hide only passwords;
//   - a query or fragment (https://host/?token=X): Go prints them, and
//     llbgen would not see a credential there and would write it into the
//     definition in plain text. Go appends paths to a proxy URL, so a
//     query is almost certainly a credential.
//
// The messages never show the value.
func CheckProxy(goproxy, from string) error {
	index := 0
	for _, e := range strings.FieldsFunc(goproxy, func(r rune) bool { return r == ',' || r == '|' }) {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		index++
		if e == "direct" || e == "off" {
			continue
		}
		refuse := func(problem, fix string) error {
			return &ProxyError{From: from, Index: index, Problem: problem, Fix: fix}
		}
		u, err := url.Parse(withScheme(e))
		if err != nil {
			return refuse("is not a URL ("+parseProblem(err)+")",
				"percent-encode the user name and password (% as %25, a space as %20, @ as %40, : in the user name as %3A)")
		}
		if u.User != nil {
			if pw, ok := u.User.Password(); !ok || pw == "" {
				return refuse("has a user name but no password, and Go prints user names (in `go mod download -x` and its errors), hiding only passwords",
					"put the secret in the password: https://USER:TOKEN@HOST/")
			}
		}
		if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.RawFragment != "" {
			return refuse("has a query or fragment (?... or #...), which Go prints in its messages and llbgen would write into the build definition; "+
				"Go appends paths to a proxy URL, so a query is almost certainly a credential",
				userinfoFix+", percent-encoding any ?, # or @ in them")
		}
	}
	return nil
}

// parseProblem says what is wrong with an entry that url.Parse refuses,
// without quoting it (url.Error quotes the whole URL, EscapeError and
// InvalidHostError a part of it).
func parseProblem(err error) string {
	var esc url.EscapeError
	var host url.InvalidHostError
	switch msg := err.Error(); {
	case errors.As(err, &esc):
		return "invalid escape"
	case errors.As(err, &host):
		return "invalid character in the host"
	case strings.Contains(msg, "invalid userinfo"):
		return "invalid character in the user name or password"
	case strings.Contains(msg, "control character"):
		return "control character"
	case strings.Contains(msg, "invalid port"):
		return "invalid port"
	}
	return "does not parse"
}

// RedactProxy is goproxy with every user name and password, query and
// fragment shown as xxxxx, for messages: https://xxxxx@host/.
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
		} else if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
			if u.User != nil {
				u.User = url.User("xxxxx")
			}
			if u.RawQuery != "" || u.ForceQuery {
				u.RawQuery, u.ForceQuery = "xxxxx", false
			}
			if u.Fragment != "" {
				u.Fragment, u.RawFragment = "xxxxx", ""
			}
			e = u.String()
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

// withScheme is e as Go reads a GOPROXY entry: one holding ".", ":" or "/"
// but not ":/", and not an absolute path, gets https://; a single word
// (reserved by Go for direct and off) and anything with ":/" stay as they are.
func withScheme(e string) string {
	if strings.ContainsAny(e, ".:/") && !strings.Contains(e, ":/") && !path.IsAbs(e) && !filepath.IsAbs(e) {
		return "https://" + e
	}
	return e
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
