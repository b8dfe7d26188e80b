package testbed

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// LayerFile is one entry of a layer AppendLayer adds: a file (Data), a
// directory or a symlink (Linkname), as its header says.
type LayerFile struct {
	tar.Header
	Data []byte
}

// AppendLayer pushes base plus one layer of files to the test registry,
// under repo (a path in it) and a tag made of the layer's contents, and
// returns its reference.
func (b *Bed) AppendLayer(t *testing.T, base, repo string, files ...LayerFile) string {
	t.Helper()
	crane := RequireCrane(t)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := f.Header
		h.ModTime, h.Size = time.Unix(0, 0), int64(len(f.Data))
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	layer := filepath.Join(t.TempDir(), "layer.tar")
	if err := os.WriteFile(layer, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ref := fmt.Sprintf("%s/%s:%x", b.Registry, repo, sha256.Sum256(append([]byte(base+"\n"), buf.Bytes()...)))
	if out, err := exec.Command(crane, "append", "--insecure", "-b", base, "-f", layer, "-t", ref).CombinedOutput(); err != nil {
		t.Fatalf("crane append: %v\n%s", err, out)
	}
	return ref
}
