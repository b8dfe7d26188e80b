package main

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// distinctImage pushes a stand-in (musl or glibc) under a new name with one
// file that differs, so BuildKit sees a different image.
func (b *bench) distinctImage(ctx context.Context, base, name, marker string) (string, error) {
	return b.distinctImageFrom(ctx, base+":latest", name, marker)
}

// distinctImageFrom is distinctImage on standin/BASE (a name:tag).
func (b *bench) distinctImageFrom(ctx context.Context, base, name, marker string) (string, error) {
	layer := filepath.Join(b.cfg.work, name+".tar")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// The name is in the file too: one marker serves a whole run, and
	// images with the same file would be one image (one digest), pulled
	// and linked once however many targets name them.
	body := []byte(marker + " " + name + "\n")
	if err := tw.WriteHeader(&tar.Header{Name: "etc/llbgen-bench-id", Mode: 0o644, Size: int64(len(body))}); err != nil {
		return "", err
	}
	tw.Write(body)
	if err := tw.Close(); err != nil {
		return "", err
	}
	if err := os.WriteFile(layer, buf.Bytes(), 0o644); err != nil {
		return "", err
	}
	ref := fmt.Sprintf("%s/bench/%s:latest", b.env.registry, name)
	src := fmt.Sprintf("%s/standin/%s", b.env.registry, base)
	if _, err := sh(ctx, nil, "", b.env.crane, "append", "--insecure", "-b", src, "-f", layer, "-t", ref); err != nil {
		return "", err
	}
	dg, err := sh(ctx, nil, "", b.env.crane, "digest", "--insecure", ref)
	if err != nil {
		return "", err
	}
	dg = strings.TrimSpace(dg)
	if other, ok := b.digests[dg]; ok {
		return "", fmt.Errorf("%s and %s are one image (%s): the scenarios would measure fewer images than they say", other, ref, dg)
	}
	if b.digests == nil {
		b.digests = map[string]string{}
	}
	b.digests[dg] = ref
	return ref, nil
}
