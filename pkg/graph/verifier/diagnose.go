package main

import (
	"debug/elf"
	"fmt"
	"io"
	"os"
	"strings"
)

// missingInterpreter names the ELF interpreter bin asks for when this image
// lacks it: the usual reason a binary "does not exist" although it does.
func missingInterpreter(bin string) string {
	f, err := elf.Open(bin)
	if err != nil {
		return ""
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b, err := io.ReadAll(p.Open())
		if err != nil {
			return ""
		}
		interp := strings.TrimRight(string(b), "\x00")
		if _, err := os.Stat(interp); err != nil {
			return fmt.Sprintf("; it needs the ELF interpreter %s, which this image lacks", interp)
		}
	}
	return ""
}
