package daemon

import (
	"github.com/llbgen/llbgen/pkg/targets"

	"strings"
	"testing"
)

// The module proxy's .info is checked before it reaches a lock: a lock
// that `llbgen lock` wrote must pass lock.Check, or the user is sent round
// in a loop (Check says "run llbgen lock", which writes the same lock).
func TestProxyInfo(t *testing.T) {
	const hash = "0123456789abcdef0123456789abcdef01234567"
	for _, c := range []struct {
		info, time, commit, err string
	}{
		{info: `{"Version":"v0.12.0","Time":"2026-02-25T22:29:07Z"}`, time: "2026-02-25T22:29:07Z"},
		{info: `{"Time":"2026-02-25T22:29:07Z","Origin":{"VCS":"git","Hash":"` + hash + `"}}`, time: "2026-02-25T22:29:07Z", commit: hash},
		{info: `{"Time":"1970-01-01T00:00:00Z","Origin":{"Hash":"` + strings.Repeat("ab", 32) + `"}}`, time: "1970-01-01T00:00:00Z", commit: strings.Repeat("ab", 32)},
		{info: `{"Version":"v0.12.0"}`},
		{info: `{"Time":"2026-02-25T22:29:07Z","Origin":{"Hash":"0 -X main.x=y"}}`,
			err: `the module proxy's github.com/awslabs/amazon-ecr-credential-helper/ecr-login@v0.12.0.info: origin commit "0 -X main.x=y" is not a commit hash (40 or 64 lower-case hex digits); it would reach the linker's flags; check GOPROXY, no lock was written`},
		{info: `{"Time":"2026-02-25T22:29:07Z","Origin":{"Hash":"` + strings.ToUpper(hash) + `"}}`, err: "is not a commit hash"},
		{info: `{"Time":"2026-02-25T22:29:07Z","Origin":{"Hash":"` + strings.Repeat("a", 200) + `"}}`, err: `"` + strings.Repeat("a", 60) + `…" (200 bytes) is not a commit hash`},
		{info: `{"Time":"2263-01-01T00:00:00Z"}`,
			err: `the module proxy's github.com/awslabs/amazon-ecr-credential-helper/ecr-login@v0.12.0.info: time "2263-01-01T00:00:00Z" is not between 1970-01-01 and 2262-04-11T23:47:16Z; it dates the exported files, whose times would wrap; check GOPROXY, no lock was written`},
		{info: `{"Time":"1969-12-31T23:59:59Z"}`, err: "is not between 1970-01-01"},
		{info: `{"Time":"yesterday"}`, err: `time "yesterday" is not an RFC 3339 time`},
		{info: `{"Time":5}`, err: "cannot unmarshal"},
		{info: `{"Time":"` + strings.Repeat("x", maxInfoBytes) + `"}`, err: "is more than 65536 bytes"},
	} {
		when, commit, err := proxyInfo(targets.HelperModule, "v0.12.0", []byte(c.info))
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%.60s: %v", c.info, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%.60s: got %v, want %q", c.info, err, c.err)
		case c.err == "" && (when != c.time || commit != c.commit):
			t.Errorf("%.60s: got %q %q, want %q %q", c.info, when, commit, c.time, c.commit)
		}
	}
}
