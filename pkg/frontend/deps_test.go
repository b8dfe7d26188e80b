package frontend

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"testing"
)

// The frontend runs inside the daemon: it must not link the daemon client
// (github.com/moby/buildkit/client) nor llbgen's package that drives a
// daemon from outside (pkg/daemon). The gateway client is what it talks to.
func TestFrontendDoesNotImportTheDaemonClient(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-json=ImportPath", "github.com/llbgen/llbgen/pkg/frontend").Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("go list: %v\n%s", err, exit.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	forbidden := map[string]bool{
		"github.com/llbgen/llbgen/pkg/daemon": true,
		"github.com/moby/buildkit/client":     true,
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	seen := 0
	for {
		var p struct{ ImportPath string }
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		seen++
		if forbidden[p.ImportPath] {
			t.Errorf("pkg/frontend depends on %s", p.ImportPath)
		}
	}
	if seen < 10 {
		t.Fatalf("go list named %d packages; the check saw nothing", seen)
	}
}
