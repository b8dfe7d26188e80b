package plan

import (
	"debug/elf"
	"encoding/binary"
	"os"
	"runtime"
	"strings"
	"testing"

	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// elfHead is the first 64 bytes of an ELF file of class, byte order and
// machine m, as a linker writes them.
func elfHead(class elf.Class, data elf.Data, m elf.Machine) []byte {
	h := make([]byte, elfHeadBytes)
	copy(h, elf.ELFMAG)
	h[elf.EI_CLASS], h[elf.EI_DATA], h[elf.EI_VERSION] = byte(class), byte(data), byte(elf.EV_CURRENT)
	var order binary.ByteOrder = binary.LittleEndian
	if data == elf.ELFDATA2MSB {
		order = binary.BigEndian
	}
	order.PutUint16(h[16:], uint16(elf.ET_EXEC))
	order.PutUint16(h[18:], uint16(m))
	return h
}

func TestELFArch(t *testing.T) {
	for _, c := range []struct {
		name string
		head []byte
		arch string
		ok   bool
	}{
		{"amd64", elfHead(elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_X86_64), "amd64", true},
		{"arm64", elfHead(elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_AARCH64), "arm64", true},
		{"386", elfHead(elf.ELFCLASS32, elf.ELFDATA2LSB, elf.EM_386), "386", true},
		{"arm", elfHead(elf.ELFCLASS32, elf.ELFDATA2LSB, elf.EM_ARM), "arm", true},
		{"ppc64le", elfHead(elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_PPC64), "ppc64le", true},
		{"ppc64 is big-endian", elfHead(elf.ELFCLASS64, elf.ELFDATA2MSB, elf.EM_PPC64), "ppc64", true},
		{"s390x", elfHead(elf.ELFCLASS64, elf.ELFDATA2MSB, elf.EM_S390), "s390x", true},
		{"mipsle", elfHead(elf.ELFCLASS32, elf.ELFDATA2LSB, elf.EM_MIPS), "mipsle", true},
		{"mips64", elfHead(elf.ELFCLASS64, elf.ELFDATA2MSB, elf.EM_MIPS), "mips64", true},
		{"riscv64", elfHead(elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_RISCV), "riscv64", true},
		{"loong64", elfHead(elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_LOONGARCH), "loong64", true},
		{"x86-64 machine in a 32-bit file", elfHead(elf.ELFCLASS32, elf.ELFDATA2LSB, elf.EM_X86_64), "EM_X86_64 (ELFCLASS32, ELFDATA2LSB)", true},
		{"a machine Go does not build for", elfHead(elf.ELFCLASS64, elf.ELFDATA2MSB, elf.EM_SPARCV9), "EM_SPARCV9 (ELFCLASS64, ELFDATA2MSB)", true},
		{"a shell script", []byte("#!/bin/sh\nexec /usr/bin/go \"$@\"\n"), "", false},
		{"empty", []byte{}, "", false},
		{"truncated header", elfHead(elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_X86_64)[:19], "", false},
		{"bad byte order", func() []byte {
			h := elfHead(elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_X86_64)
			h[elf.EI_DATA] = 7
			return h
		}(), "", false},
		{"bad class", func() []byte {
			h := elfHead(elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_X86_64)
			h[elf.EI_CLASS] = 0
			return h
		}(), "", false},
	} {
		arch, ok := elfArch(c.head)
		if arch != c.arch || ok != c.ok {
			t.Errorf("%s: got %q %v, want %q %v", c.name, arch, ok, c.arch, c.ok)
		}
	}
}

// The header of a real binary, this test's own, reads as the machine it
// runs on.
func TestELFArchOfThisBinary(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("ELF binaries on Linux only")
	}
	f, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head := make([]byte, elfHeadBytes)
	if _, err := f.Read(head); err != nil {
		t.Fatal(err)
	}
	if arch, ok := elfArch(head); !ok || arch != runtime.GOARCH {
		t.Errorf("got %q %v, want %s", arch, ok, runtime.GOARCH)
	}
}

func TestHeadProblem(t *testing.T) {
	amd64 := toolchainUse{ocispecs.Platform{OS: "linux", Architecture: "amd64"}, "the daemon builds on linux/amd64"}
	for _, c := range []struct {
		name string
		head []byte
		want string
	}{
		{"right machine", elfHead(elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_X86_64), ""},
		{"no file", nil, " has no Go toolchain at /usr/local/go (no regular file /usr/local/go/bin/go)"},
		{"empty file", []byte{}, " has no Go toolchain at /usr/local/go (/usr/local/go/bin/go is not an ELF executable)"},
		{"a script", []byte("#!/bin/sh\n"), " has no Go toolchain at /usr/local/go (/usr/local/go/bin/go is not an ELF executable)"},
		{"arm64", elfHead(elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_AARCH64), ": its toolchain is for linux/arm64, the daemon builds on linux/amd64"},
		{"sparc", elfHead(elf.ELFCLASS64, elf.ELFDATA2MSB, elf.EM_SPARCV9), ": its toolchain is for EM_SPARCV9 (ELFCLASS64, ELFDATA2MSB), the daemon builds on linux/amd64"},
	} {
		if got := headProblem(c.head, amd64); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

func TestConfigProblem(t *testing.T) {
	use := toolchainUse{ocispecs.Platform{OS: "linux", Architecture: "arm64"}, "cgo target pi compiles on linux/arm64"}
	for config, want := range map[string]string{
		`{"os":"linux","architecture":"arm64"}`:                "",
		`{"os":"linux","architecture":"aarch64"}`:              "",
		`{"os":"linux","architecture":"arm64","variant":"v8"}`: "",
		`{"os":"linux","architecture":"amd64"}`:                ": the image is for linux/amd64 (its config), cgo target pi compiles on linux/arm64",
		`{"os":"windows","architecture":"arm64"}`:              ": the image is for windows/arm64 (its config), cgo target pi compiles on linux/arm64",
		`{"architecture":"amd64"}`:                             "", // says too little to refuse
		`not json`:                                             "",
		``:                                                     "",
	} {
		if got := configProblem([]byte(config), use); got != want {
			t.Errorf("%s: got %q, want %q", config, got, want)
		}
	}
	if strings.Contains(configProblem([]byte(`{"os":"linux","architecture":"amd64"}`), use), "\n") {
		t.Error("more than one line")
	}
	// The config is the image's text: what it says is quoted and clipped.
	for config, want := range map[string]string{
		`{"os":"linux\u001b[2J\nx","architecture":"amd64"}`:                        `: the image is for "linux\x1b[2j\nx/amd64" (its config), cgo target pi compiles on linux/arm64`,
		`{"os":"linux","architecture":"\u202e` + strings.Repeat("x", 1<<20) + `"}`: `: the image is for "linux/\u202e` + strings.Repeat("x", 51) + `…" (1048585 bytes) (its config), cgo target pi compiles on linux/arm64`,
	} {
		if got := configProblem([]byte(config), use); got != want {
			t.Errorf("%.60s: got %q, want %q", config, got, want)
		}
	}
}
