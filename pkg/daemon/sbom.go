package daemon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	gateway "github.com/moby/buildkit/frontend/gateway/client"

	"github.com/llbgen/llbgen/pkg/plan"
	"github.com/llbgen/llbgen/pkg/targets"
)

// SBOMSuffix ends the name of a binary's SPDX document in the output
// directory: docker-credential-ecr-login-NAME.spdx.json. No target's name
// ends so (targets refuses it), so it is no binary's file.
const SBOMSuffix = targets.SBOMSuffix

// maxSBOMBytes bounds an SPDX document read back: the generator is an
// image, and what it writes lands in the user's directory.
const maxSBOMBytes = 64 << 20

// sbomAttr is the attest:sbom attribute that asks BuildKit for an SBOM
// made by generator ("" for BuildKit's default).
func sbomAttr(generator string) string {
	if generator == "" {
		return ""
	}
	return "generator=" + generator
}

// sbom asks BuildKit's SBOM generator for an SPDX document of every
// binary written: one session whose result holds each binary as a ref of
// its own (writtenResult), so BuildKit scans each on its own; the local
// exporter writes each ref's attestation beside its files. The SPDX
// document (the in-toto statement's predicate) is staged as
// FILE.spdx.json, to land with the binaries. Any failure fails the run:
// the SBOMs were asked for.
func (s *solve) sbom(ctx context.Context, ss sessions, p *prepared) error {
	dir, err := os.MkdirTemp("", "llbgen-sbom-")
	if err != nil {
		return fmt.Errorf("SBOM: %w", err)
	}
	defer os.RemoveAll(dir)
	err = ss.session(ctx, func(ctx context.Context, gc gateway.Client) (*gateway.Result, error) {
		return s.writtenResult(ctx, gc, p, deliveredPart(p))
	}, sessionOpt{sbomDir: dir, name: "llbgen sbom"})
	if err != nil {
		return fmt.Errorf("making the SBOMs: %w", err)
	}
	for i := range s.results {
		r := &s.results[i]
		if j, ok := p.idx[r.Binary.Name]; !ok || s.errs[j] != nil || !r.Written() {
			continue
		}
		// The document is of the bytes that landed: the exporter wrote
		// the binary it scanned beside it.
		if sum, err := fileSHA256(filepath.Join(dir, r.Binary.Name, r.File)); err != nil || sum != r.SHA256 {
			return fmt.Errorf("the SBOM of %s: the binary BuildKit scanned is not the one written (%v); run again", r.Binary.Name, err)
		}
		doc, err := spdxOf(filepath.Join(dir, r.Binary.Name, "sbom"+SBOMSuffix))
		if err != nil {
			return fmt.Errorf("the SBOM of %s: %w", r.Binary.Name, err)
		}
		// In the binary's own unit: they land together or not at all.
		name := r.File + SBOMSuffix
		if err := s.unitOf(i).Write(name, 0o644, r.Time, func(w io.Writer) error { _, err := w.Write(doc); return err }); err != nil {
			return fmt.Errorf("the SBOM of %s: %w", r.Binary.Name, err)
		}
		r.SBOM = name
	}
	return nil
}

// fileSHA256 is the sha256 of a file, hex.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// spdxOf reads the in-toto statement BuildKit's local exporter wrote and
// returns its SPDX document, indented.
func spdxOf(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("the generator wrote no SPDX document: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSBOMBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxSBOMBytes {
		return nil, fmt.Errorf("the generator's statement is more than %d MiB", maxSBOMBytes>>20)
	}
	var stmt struct {
		PredicateType string          `json:"predicateType"`
		Predicate     json.RawMessage `json:"predicate"`
	}
	if err := json.Unmarshal(data, &stmt); err != nil {
		return nil, fmt.Errorf("reading the generator's statement: %v", plan.FirstLine(err.Error()))
	}
	var doc struct {
		SPDXVersion string `json:"spdxVersion"`
	}
	if err := json.Unmarshal(stmt.Predicate, &doc); err != nil || doc.SPDXVersion == "" {
		return nil, fmt.Errorf("the generator's statement (%s) holds no SPDX document", stmt.PredicateType)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, stmt.Predicate, "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}
