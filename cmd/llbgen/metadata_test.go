package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llbgen/llbgen/internal/testbed"
)

// --metadata-file records, also when a target fails, each binary (target,
// its line, platform, image digest, file, size, sha256, status and cause)
// and the run (helper and its module hash, go image digest, daemon, times).
func TestMetadataFile(t *testing.T) {
	bed := testbed.Require(t)
	file := writeList(t, fmt.Sprintf("helper: {version: v0.12.0}\ngo: %s\ntargets:\n  - {image: %s, name: musl}\n  - {image: %s/nosuch/image:1, name: missing}\n", bed.Golang(), bed.Musl(), bed.Registry))
	out := t.TempDir()
	meta := filepath.Join(t.TempDir(), "metadata.json")
	r := runLLBGen(t, bed.Addr, "build", "-f", file, "--out", out, "--metadata-file", meta, "--progress", "plain")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (one target fails)\n%s", r.code, tail(r.stderr, 10))
	}
	m := readMetadata(t, meta)
	if m.Daemon == nil || m.Daemon.Address != bed.Addr || !strings.HasPrefix(m.Daemon.Runs, "BuildKit ") || !strings.HasPrefix(m.Go.Digest, "sha256:") ||
		m.Helper.Version != "v0.12.0" || m.Seconds <= 0 || m.Summary != (metadataSummary{Binaries: 2, Verified: 1, Failed: 1}) || m.Error != "" {
		t.Errorf("the run: %+v", m)
	}
	// No lock: the module's hash as the download fetched it (the
	// repository's targets.yaml.lock pins the same).
	if want := "h1:JFWXO6QPihCknDdnL6VaQE57km4ZKheHIGd9YiOGcTo="; m.Helper.Sum != want || len(m.Helpers) != 1 || m.Helpers[0].Sum != want {
		t.Errorf("the helper's sum: %q (helpers %+v), want %q", m.Helper.Sum, m.Helpers, want)
	}
	if len(m.Binaries) != 2 {
		t.Fatalf("%d binaries", len(m.Binaries))
	}
	good, bad := m.Binaries[0], m.Binaries[1]
	sum := sha256.Sum256([]byte(readFile(t, filepath.Join(out, good.File))))
	if good.Target != "musl" || good.Line != 4 || good.Status != "verified" || good.SHA256 != hex.EncodeToString(sum[:]) || good.Size == 0 ||
		!strings.HasPrefix(good.ImageDigest, "sha256:") || good.Platform == "" || good.Cause != "" {
		t.Errorf("the verified binary: %+v", good)
	}
	if bad.Target != "missing" || bad.Line != 5 || bad.Status != "failed" || !strings.Contains(bad.Cause, "not found") || bad.SHA256 != "" {
		t.Errorf("the failed binary: %+v", bad)
	}

	// A run that fails as a whole says why; bad input writes nothing.
	meta2 := filepath.Join(t.TempDir(), "metadata.json")
	r = runLLBGen(t, "unix://"+filepath.Join(t.TempDir(), "none.sock"), "build", "-f", file, "--out", t.TempDir(), "--metadata-file", meta2)
	var m2 metadata
	if data, err := os.ReadFile(meta2); r.code != 1 || err != nil || json.Unmarshal(data, &m2) != nil || !strings.Contains(m2.Error, "none.sock") || len(m2.Binaries) != 0 {
		t.Errorf("no daemon: exit %d, %v, %+v", r.code, err, m2)
	}
	meta3 := filepath.Join(t.TempDir(), "metadata.json")
	bad3 := writeList(t, "helper: {version: v0.12.0}\ntargets:\n  - image: \"docker:\"\n")
	if r = runLLBGen(t, bed.Addr, "build", "-f", bad3, "--out", t.TempDir(), "--metadata-file", meta3); r.code != 2 {
		t.Errorf("bad input: exit %d", r.code)
	}
	if _, err := os.Stat(meta3); err == nil {
		t.Error("bad input wrote the metadata file")
	}
}

// readMetadata reads a metadata file.
func readMetadata(t *testing.T, path string) metadata {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m metadata
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	return m
}
