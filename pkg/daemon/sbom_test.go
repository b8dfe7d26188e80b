package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// What a generator (an image's code) writes is read as an in-toto
// statement holding an SPDX document, bounded; anything else is refused,
// saying why.
func TestSPDXOf(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", `{"predicateType":"https://spdx.dev/Document","predicate":{"spdxVersion":"SPDX-2.3","packages":[{"name":"x"}]}}`)
	doc, err := spdxOf(good)
	if err != nil || !strings.HasPrefix(string(doc), "{\n  \"spdxVersion\": \"SPDX-2.3\"") {
		t.Errorf("a statement: %q, %v", doc, err)
	}
	big, err := os.Create(filepath.Join(dir, "big"))
	if err != nil {
		t.Fatal(err)
	}
	if err := big.Truncate(maxSBOMBytes + 1); err != nil {
		t.Fatal(err)
	}
	big.Close()
	for name, want := range map[string]string{
		write("notjson", "{"): "reading the generator's statement",
		write("nospdx", `{"predicateType":"x","predicate":{"name":"y"}}`): "holds no SPDX document",
		filepath.Join(dir, "missing"):                                     "the generator wrote no SPDX document",
		filepath.Join(dir, "big"):                                         "is more than 64 MiB",
	} {
		if _, err := spdxOf(name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", filepath.Base(name), err, want)
		}
	}
}
