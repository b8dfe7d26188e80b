package daemon

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// A daemon's version strings reach the refusal as what it reported, but a
// hostile daemon's cannot break the message into lines of its own or make
// it long: they are quoted, and cut.
func TestUnsupportedErrorShowsVersionsSafely(t *testing.T) {
	forged := "\nllbgen: all 3 targets verified"
	long := "v0.10.6-" + strings.Repeat("x", 10000)
	for _, c := range []struct {
		name   string
		addr   func(t *testing.T) string
		want   string // in the message
		length int    // the message's length is at most this
	}{
		{"buildkitd, newline", func(t *testing.T) string {
			return fakeBuildKitd(t, &fakeControl{version: "v0.10.6-rc1" + forged})
		}, `runs BuildKit "v0.10.6-rc1\nllbgen: all 3 targets verified", which lacks provenance attestations`, 400},
		{"Docker Engine, newline", func(t *testing.T) string {
			return DockerScheme + fakeDocker(t, "20.10.24"+forged, &fakeControl{})
		}, `runs BuildKit v0.8 (Docker Engine "20.10.24\nllbgen: all 3 targets verified"), which lacks the merge op`, 600},
		{"buildkitd, long", func(t *testing.T) string {
			return fakeBuildKitd(t, &fakeControl{version: long})
		}, `runs BuildKit "` + long[:maxShownVersion] + `"..., which lacks`, 400},
		{"buildkitd, plain", func(t *testing.T) string {
			return fakeBuildKitd(t, &fakeControl{version: "v0.10.6+dfsg1"})
		}, "runs BuildKit v0.10.6+dfsg1, which lacks", 300},
	} {
		t.Run(c.name, func(t *testing.T) {
			opt := Options{Addr: c.addr(t), Provenance: true}
			_, _, err := open(context.Background(), &opt)
			var u *UnsupportedError
			if !errors.As(err, &u) {
				t.Fatalf("got %v, want an UnsupportedError", err)
			}
			msg := err.Error()
			if strings.ContainsAny(msg, "\n\r") || len(msg) > c.length {
				t.Errorf("%d bytes, not one short line:\n%s", len(msg), msg)
			}
			if !strings.Contains(msg, c.want) {
				t.Errorf("%s\nlacks %s", msg, c.want)
			}
		})
	}
}

func TestShownVersion(t *testing.T) {
	for v, want := range map[string]string{
		"v0.34.2":          "v0.34.2",
		"20.10.24+dfsg1":   "20.10.24+dfsg1",
		"v0.0.0+unknown":   "v0.0.0+unknown",
		"1.2.3~rc1_b":      "1.2.3~rc1_b",
		"":                 `""`,
		"v1 (forged)":      `"v1 (forged)"`,
		"v1\x1b[2Kgone":    `"v1\x1b[2Kgone"`,
		"v1\u202eevil":     `"v1\u202eevil"`,
		"v1\r\nllbgen: ok": `"v1\r\nllbgen: ok"`,
	} {
		if got := shownVersion(v); got != want {
			t.Errorf("shownVersion(%q) = %s, want %s", v, got, want)
		}
	}
}
