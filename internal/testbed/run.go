package testbed

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
)

// RunInImage runs `BIN version` inside image on the daemon, independently of
// llbgen's own verify stage, and returns what it printed and its exit status.
// It needs a shell in the image, which every stand-in has.
func (b *Bed) RunInImage(ctx context.Context, t testing.TB, image, bin string) (output string, status string) {
	t.Helper()
	st := llb.Image(image).
		Run(
			llb.Args([]string{"/bin/sh", "-c", "/x/bin version >/out/output 2>&1; echo $? >/out/status"}),
			llb.AddMount("/x", llb.Local("bin"), llb.Readonly),
			llb.Network(pb.NetMode_NONE),
		).
		AddMount("/out", llb.Scratch())
	def, err := st.Marshal(ctx, llb.LinuxAmd64)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := t.TempDir()
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "bin"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	raw, err := def.ToPB().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	log, err := b.Build(ctx, raw, "--local", "bin="+src, "--output", "type=local,dest="+dir)
	if err != nil {
		t.Fatalf("running %s in %s: %v\n%s", bin, image, err, log)
	}
	out, err1 := os.ReadFile(filepath.Join(dir, "output"))
	code, err2 := os.ReadFile(filepath.Join(dir, "status"))
	if err1 != nil || err2 != nil {
		t.Fatal(fmt.Errorf("reading results: %v %v", err1, err2))
	}
	return string(out), strings.TrimSpace(string(code))
}
