// Package hack holds the tests of the hack/ scripts that can run without
// the test bed, or beside it without touching it.
package hack

import (
	"archive/zip"
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// goModuleBuild runs lib.sh's go_module_build with args, against a module
// proxy in a directory (proxy, from fakeProxy), and returns its combined
// output. env is added to an environment that names what a root shell
// could inherit.
func goModuleBuild(t *testing.T, proxy string, env []string, args ...string) (string, error) {
	t.Helper()
	modcache := t.TempDir()
	t.Cleanup(func() { // the module cache is read-only
		filepath.WalkDir(modcache, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
	})
	cmd := exec.Command("bash", append([]string{"-c", `source hack/lib.sh && go_module_build "$@"`, "bash"}, args...)...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(),
		"LLBGEN_CACHE="+t.TempDir(), "GOPROXY=file://"+proxy, "GOSUMDB=off", "GOMODCACHE="+modcache,
		"GOTOOLCHAIN=local", "GOFLAGS=")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// fakeProxy is a module proxy directory (GOPROXY=file://...) serving
// version v0.1.0 of each module, given as its files; modFile is what the
// proxy says its go.mod is.
func fakeProxy(t *testing.T, modules map[string]map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for path, files := range modules {
		at := filepath.Join(dir, path, "@v")
		if err := os.MkdirAll(at, 0o755); err != nil {
			t.Fatal(err)
		}
		var zb bytes.Buffer
		z := zip.NewWriter(&zb)
		for name, body := range files {
			w, err := z.Create(path + "@v0.1.0/" + name)
			if err != nil {
				t.Fatal(err)
			}
			w.Write([]byte(body))
		}
		if err := z.Close(); err != nil {
			t.Fatal(err)
		}
		mod := files["go.mod"]
		if mod == "" {
			mod = "module " + path + "\n"
		}
		for name, body := range map[string]string{
			"list": "v0.1.0\n", "v0.1.0.info": `{"Version":"v0.1.0","Time":"2025-01-01T00:00:00Z"}`,
			"v0.1.0.mod": mod, "v0.1.0.zip": zb.String(),
		} {
			if err := os.WriteFile(filepath.Join(at, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

const helloMain = "package main\n\nfunc main() { println(\"hello\") }\n"

// go_module_build takes its preparation and Go flags as arguments, never
// from the environment, where a root shell could have inherited a command
// (GO_MODULE_PREPARE) or a -toolexec (GO_MODULE_GOFLAGS, GOFLAGS).
func TestGoModuleBuildTakesNothingFromTheEnvironment(t *testing.T) {
	proxy := fakeProxy(t, map[string]map[string]string{
		"example.com/tiny": {"go.mod": "module example.com/tiny\n\ngo 1.21\n", "cmd/tiny/main.go": helloMain},
	})
	marker := filepath.Join(t.TempDir(), "ran")
	out := filepath.Join(t.TempDir(), "bin")
	log, err := goModuleBuild(t, proxy, []string{
		"GO_MODULE_PREPARE=touch " + marker,
		"GO_MODULE_GOFLAGS=-mod=mod -toolexec=/bin/false",
		"GOFLAGS=-toolexec=/bin/false",
	}, "example.com/tiny", "v0.1.0", out, "./cmd/tiny")
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	if _, err := os.Stat(filepath.Join(out, "tiny")); err != nil {
		t.Errorf("no binary: %v\n%s", err, log)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("GO_MODULE_PREPARE from the environment ran")
	}
}

// --prepare takes only a known step, refused before anything is fetched.
func TestGoModuleBuildRefusesAnUnknownPreparation(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bin")
	log, err := goModuleBuild(t, t.TempDir(), nil, "--prepare", "touch /tmp/x", "example.com/tiny", "v0.1.0", out, "./cmd/tiny")
	if err == nil || !strings.Contains(log, "no preparation named 'touch /tmp/x' (known: docker-cli)") {
		t.Errorf("%v, want a refusal:\n%s", err, log)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("built anyway")
	}
}

// The docker-cli step builds a module laid out as docker/cli is: no go.mod
// but vendor.mod and vendor.sum, and a vendor directory that is not used
// (here one that would break the build if it were).
func TestGoModuleBuildDockerCLIStep(t *testing.T) {
	proxy := fakeProxy(t, map[string]map[string]string{
		"example.com/cli": {
			"vendor.mod":          "module example.com/cli\n\ngo 1.21\n",
			"vendor.sum":          "",
			"vendor/modules.txt":  "# example.com/missing v1.0.0\n## explicit\nexample.com/missing\n",
			"cmd/docker/main.go":  helloMain,
			"cmd/docker/other.go": "package main\n",
		},
	})
	out := filepath.Join(t.TempDir(), "bin")
	log, err := goModuleBuild(t, proxy, nil, "--prepare", "docker-cli", "example.com/cli", "v0.1.0", out, "./cmd/docker")
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	if _, err := os.Stat(filepath.Join(out, "docker")); err != nil {
		t.Errorf("no binary: %v\n%s", err, log)
	}
}

// Under pipefail (lib.sh sets it), `producer | grep -q` can fail although
// grep matched: grep exits at its first match, the producer dies of
// SIGPIPE writing the rest, and the pipeline takes its status. engine.sh's
// bridge check did so once dockerd had given the bridge more addresses
// ("ipv4: Address already assigned"). The scripts let grep read all
// (`grep ... >/dev/null`); this holds them to it.
func TestNoPipeIntoGrepQ(t *testing.T) {
	scripts, err := filepath.Glob("*.sh")
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, s := range scripts {
		data, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			if code, _, _ := strings.Cut(line, " #"); strings.Contains(code, "| grep -q") {
				t.Errorf("%s:%d pipes into grep -q under pipefail: %s", s, i+1, strings.TrimSpace(line))
			}
		}
	}
}
