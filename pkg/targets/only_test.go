package targets

import (
	"slices"
	"testing"

	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestOnlyKeepsNames(t *testing.T) {
	amd64 := Platform{Platform: ocispecs.Platform{OS: "linux", Architecture: "amd64"}}
	arm64 := Platform{Platform: ocispecs.Platform{OS: "linux", Architecture: "arm64"}}
	l := &List{Targets: []Target{
		{Name: "plain"},
		{Name: "multi", Platforms: []Platform{amd64, arm64}},
		{Name: "one", Platforms: []Platform{arm64}},
	}}
	names := func(l *List) []string {
		var out []string
		for _, b := range l.Binaries() {
			out = append(out, b.FileName())
		}
		return out
	}
	arm := l.Only(func(b Binary) bool { return b.Platform != nil && b.Platform.Architecture == "arm64" })
	if got, want := names(arm), []string{BinaryPrefix + "multi-linux-arm64", BinaryPrefix + "one"}; !slices.Equal(got, want) {
		t.Errorf("arm64 part: %q, want %q", got, want)
	}
	rest := l.Only(func(b Binary) bool { return b.Platform == nil || b.Platform.Architecture != "arm64" })
	if got, want := names(rest), []string{BinaryPrefix + "plain", BinaryPrefix + "multi-linux-amd64"}; !slices.Equal(got, want) {
		t.Errorf("the rest: %q, want %q", got, want)
	}
	if again := arm.Only(func(Binary) bool { return true }); !slices.Equal(names(again), names(arm)) {
		t.Errorf("Only of a part renames its binaries: %q", names(again))
	}
	if l.Only(func(Binary) bool { return false }) != nil {
		t.Error("a list that keeps nothing is not nil")
	}
	if got := names(l); len(got) != 4 {
		t.Errorf("Only changed the list it was given: %q", got)
	}
}
