package testbed

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// binfmtDir is where the kernel's handlers for foreign binaries live.
const binfmtDir = "/proc/sys/fs/binfmt_misc"

// WithoutEmulation disables the kernel's QEMU handler for arch (qemu-ARCH,
// e.g. "aarch64") until the test ends, so that a daemon started meanwhile
// cannot run that platform's binaries: a machine without an emulator. It
// needs root; without the handler there is nothing to disable.
func WithoutEmulation(t *testing.T, arch string) {
	t.Helper()
	path := filepath.Join(binfmtDir, "qemu-"+arch)
	data, err := os.ReadFile(path)
	if err != nil {
		return // no handler: no emulation to begin with
	}
	if !strings.HasPrefix(string(data), "enabled") {
		return
	}
	if err := os.WriteFile(path, []byte("0"), 0); err != nil {
		t.Fatalf("disabling the %s emulator: %v", arch, err)
	}
	t.Cleanup(func() {
		if err := os.WriteFile(path, []byte("1"), 0); err != nil {
			t.Errorf("enabling the %s emulator again: %v", arch, err)
		}
	})
}
