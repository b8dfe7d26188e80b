package plan

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
)

// elfHeadBytes is how much of a file elfArch reads: an ELF header (64
// bytes for 64-bit files, 52 for 32-bit).
const elfHeadBytes = 64

// elfMachine is what an ELF header says a binary runs on.
type elfMachine struct {
	class   elf.Class
	data    elf.Data
	machine elf.Machine
}

// goArchELF is, for each GOARCH Go builds Linux binaries for
// (targets.ParsePlatform accepts these), the ELF header of its binaries.
var goArchELF = map[string]elfMachine{
	"386":      {elf.ELFCLASS32, elf.ELFDATA2LSB, elf.EM_386},
	"amd64":    {elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_X86_64},
	"arm":      {elf.ELFCLASS32, elf.ELFDATA2LSB, elf.EM_ARM},
	"arm64":    {elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_AARCH64},
	"loong64":  {elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_LOONGARCH},
	"mips":     {elf.ELFCLASS32, elf.ELFDATA2MSB, elf.EM_MIPS},
	"mipsle":   {elf.ELFCLASS32, elf.ELFDATA2LSB, elf.EM_MIPS},
	"mips64":   {elf.ELFCLASS64, elf.ELFDATA2MSB, elf.EM_MIPS},
	"mips64le": {elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_MIPS},
	"ppc64":    {elf.ELFCLASS64, elf.ELFDATA2MSB, elf.EM_PPC64},
	"ppc64le":  {elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_PPC64},
	"riscv64":  {elf.ELFCLASS64, elf.ELFDATA2LSB, elf.EM_RISCV},
	"s390x":    {elf.ELFCLASS64, elf.ELFDATA2MSB, elf.EM_S390},
}

// elfArch reads the GOARCH a binary is for from the start of its file (at
// least the first 20 bytes: identification and e_machine). ok is false
// when head is not an ELF header; arch is then "". An ELF file for a
// machine Go does not build for gives its machine, class and byte order,
// e.g. "EM_SPARCV9 (ELFCLASS64, ELFDATA2MSB)".
func elfArch(head []byte) (arch string, ok bool) {
	if len(head) < 20 || !bytes.HasPrefix(head, []byte(elf.ELFMAG)) {
		return "", false
	}
	class, data := elf.Class(head[elf.EI_CLASS]), elf.Data(head[elf.EI_DATA])
	var order binary.ByteOrder
	switch data {
	case elf.ELFDATA2LSB:
		order = binary.LittleEndian
	case elf.ELFDATA2MSB:
		order = binary.BigEndian
	default:
		return "", false
	}
	if class != elf.ELFCLASS32 && class != elf.ELFCLASS64 {
		return "", false
	}
	// e_machine follows e_ident (16 bytes) and e_type (2) in both classes.
	m := elfMachine{class, data, elf.Machine(order.Uint16(head[18:20]))}
	for goarch, want := range goArchELF {
		if want == m {
			return goarch, true
		}
	}
	return fmt.Sprintf("%s (%s, %s)", m.machine, m.class, m.data), true
}
