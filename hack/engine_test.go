package hack

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llbgen/llbgen/internal/testbed"
)

// engineForwardingScript runs a second engine of hack/engine.sh, for a
// test bed of its own, in a network namespace of its own, where
// net.ipv4.ip_forward is the namespace's: it starts off, and the script
// prints it after each step.
const engineForwardingScript = `set -e
trap 'hack/engine.sh down >/dev/null 2>&1 || true' EXIT
echo 0 >/proc/sys/net/ipv4/ip_forward
say() { echo "$1: $(cat /proc/sys/net/ipv4/ip_forward)"; }
hack/engine.sh up; say up
hack/engine.sh up; say "up again"
hack/engine.sh down; say down
hack/engine.sh down; say "down again"
hack/engine.sh up
ip link add llbgen00000000 type bridge
hack/engine.sh down; say "down, another bed up"
ip link del llbgen00000000
hack/engine.sh down; say "down, the other bed gone"
hack/engine.sh up
ip link add foreign0 type bridge
hack/engine.sh down; say "down, a foreign bridge without IPv4"
hack/engine.sh up
ip addr add 10.254.254.1/24 dev foreign0
hack/engine.sh down; say "down, a foreign bridge with IPv4 since up"
ip link del foreign0
hack/engine.sh down; say "down, the foreign bridge gone"
ip link add foreign1 type bridge
ip addr add 10.254.253.1/24 dev foreign1
hack/engine.sh up
hack/engine.sh down; say "down, a foreign bridge with IPv4 from before up"
`

// dockerd turns IP forwarding on, even with --iptables=false; `down` turns
// it back to what it was before the first `up` (not to the 1 a second `up`
// finds), once no other test bed's engine bridge is left, nor another
// bridge that got an IPv4 address since up (what made it may need
// forwarding); twice is safe.
func TestEngineRestoresIPForwarding(t *testing.T) {
	bed := testbed.Require(t)
	eng := bed.RequireEngine(t)
	if os.Getuid() != 0 {
		t.Skip("skipping: the engine runs as root")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatalf("unshare: %v", err)
	}
	// The engine's binaries, as the test bed built them: this test builds
	// none.
	state := t.TempDir()
	cache := filepath.Dir(filepath.Dir(filepath.Dir(eng.Docker)))
	env := append(os.Environ(), "LLBGEN_CACHE="+cache, "LLBGEN_STATE="+state, "LLBGEN_TESTBED_LOCKED=")
	out, err := runIn(t, env, "hack/engine.sh", "env")
	if err != nil || !strings.Contains(out, "export LLBGEN_DOCKER="+eng.Docker+"\n") {
		t.Fatalf("hack/engine.sh env with LLBGEN_CACHE=%s does not name the test bed's binaries (%v):\n%s", cache, err, out)
	}
	// The mirror is never contacted, and port 1 is the namespace's own:
	// no other run can hold it.
	if err := os.WriteFile(filepath.Join(state, "registry.port"), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = runIn(t, env, "unshare", "--net", "--mount", "--", "bash", "-c", engineForwardingScript)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := "up: 1\nup again: 1\ndown: 0\ndown again: 0\ndown, another bed up: 1\ndown, the other bed gone: 0\n" +
		"down, a foreign bridge without IPv4: 0\ndown, a foreign bridge with IPv4 since up: 1\ndown, the foreign bridge gone: 0\n" +
		"down, a foreign bridge with IPv4 from before up: 0\n"
	if out != want {
		t.Errorf("got\n%swant\n%s(engine log: %s)", out, want, filepath.Join(state, "engine", "dockerd.log"))
	}
}

// runIn runs name with args in the repository, and returns its standard
// output; its standard error is in the test's log.
func runIn(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Dir = ".."
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if stderr.Len() > 0 {
		t.Logf("%s %s:\n%s", name, strings.Join(args[:min(len(args), 2)], " "), stderr.String())
	}
	return stdout.String(), err
}
