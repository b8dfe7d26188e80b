package graph

import (
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/client/llb"

	"github.com/llbgen/llbgen/internal/testbed"
	"github.com/llbgen/llbgen/pkg/targets"
)

// fakeHelper builds, on this machine, a program that prints what the real
// helper's `version` prints for version. With cgo it is linked against this
// machine's glibc, as a helper built with a C compiler present would be.
func fakeHelper(t *testing.T, cgo bool, version string) string {
	t.Helper()
	src := t.TempDir()
	prog := `package main

import "fmt"

func main() {
	fmt.Println("docker-credential-ecr-login (github.com/awslabs/amazon-ecr-credential-helper/ecr-login) ` + version + `")
}
`
	if cgo {
		prog = strings.Replace(prog, `import "fmt"`, "// #include <stdlib.h>\nimport \"C\"\nimport \"fmt\"", 1) +
			"\nvar _ = C.abs(1)\n"
	}
	for name, body := range map[string]string{"main.go": prog, "go.mod": "module fake\n\ngo 1.22\n"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(out, "docker-credential-ecr-login"), ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if cgo {
		cmd.Env = append(cmd.Env, "CGO_ENABLED=1")
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the fake helper: %v\n%s", err, b)
	}
	f, err := elf.Open(filepath.Join(out, "docker-credential-ecr-login"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dynamic := false
	for _, p := range f.Progs {
		dynamic = dynamic || p.Type == elf.PT_INTERP
	}
	if dynamic != cgo {
		t.Fatalf("fake helper: dynamic=%v, want %v", dynamic, cgo)
	}
	// as finished: its build information beside it, for a delivery to copy
	if err := os.WriteFile(filepath.Join(out, "docker-credential-ecr-login.buildinfo"), []byte("fake\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// verifyLocal runs only the verify stage of target on the binary in binDir.
func verifyLocal(t *testing.T, bed *testbed.Bed, name, image, binDir string) (outDir, log string, err error) {
	t.Helper()
	l := &targets.List{
		Helpers: []targets.Helper{{Version: "v0.12.0"}},
		Go:      targets.Image{Ref: bed.Golang(), Full: bed.Golang()},
	}
	// an epoch: the delivery then needs no module .info
	b := newBuilder(l, Options{Platform: DefaultPlatform(), SourceDateEpoch: new(int64)})
	tg := targets.Target{Image: targets.Image{Ref: image, Full: image}, Name: name}
	goImg, err := b.image(l.Go, b.opt.Platform)
	if err != nil {
		t.Fatal(err)
	}
	img, err := b.image(tg.Image, b.opt.Platform)
	if err != nil {
		t.Fatal(err)
	}
	b.goImg = goImg
	h := l.Helpers[0]
	b.helpers[h.FileName()] = &helperBuild{h: h, spec: h.Spec(), modules: llb.Scratch()}
	b.toolSt = b.stageTool(goImg)
	bin := tg.Binaries()[0]
	check := b.verify(bin, img, llb.Local("bin"))
	st := b.deliver(bin, llb.Local("bin"), &check, "deliver "+bin.Name)
	def, err := Definition(context.Background(), st, DefaultPlatform())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	outDir = t.TempDir()
	log, err = bed.Build(ctx, def, "--local", "bin="+binDir, "--output", "type=local,dest="+outDir)
	return outDir, log, err
}

func TestVerifyRefusesBinaryLinkedAgainstAnotherLibc(t *testing.T) {
	bed := testbed.Require(t)
	bin := fakeHelper(t, true, "0.12.0")

	out, log, err := verifyLocal(t, bed, "musl-cgo", bed.Musl(), bin)
	if err == nil {
		t.Fatalf("a glibc-linked binary passed verification in the musl image\n%s", log)
	}
	for _, want := range []string{"target musl-cgo", "does not run in its image", "-target musl-cgo", "missing ELF interpreter /lib64/ld-linux-x86-64.so.2", "linked against glibc", "the image has musl"} {
		if !strings.Contains(log, want) {
			t.Errorf("build log lacks %q:\n%s", want, log)
		}
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("an unverified binary reached the export: %v", entries)
	}

	// The same binary in the glibc image it was made for passes.
	out, log, err = verifyLocal(t, bed, "glibc-cgo", bed.Glibc(), bin)
	if err != nil {
		t.Fatalf("the glibc-linked binary failed verification in the glibc image: %v\n%s", err, log)
	}
	if _, err := os.Stat(filepath.Join(out, "docker-credential-ecr-login-glibc-cgo")); err != nil {
		t.Errorf("verified binary not exported: %v", err)
	}
}

func TestVerifyRefusesWrongVersion(t *testing.T) {
	bed := testbed.Require(t)
	bin := fakeHelper(t, false, "0.11.0")
	_, log, err := verifyLocal(t, bed, "old", bed.Musl(), bin)
	if err == nil {
		t.Fatalf("a binary reporting 0.11.0 passed a check for 0.12.0\n%s", log)
	}
	if !strings.Contains(log, `target old: `+"`version`"+` printed`) || !strings.Contains(log, "0.11.0") {
		t.Errorf("build log does not show the target and what the binary printed:\n%s", log)
	}
}
