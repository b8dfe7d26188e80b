package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	gateway "github.com/moby/buildkit/frontend/gateway/client"

	"github.com/llbgen/llbgen/pkg/plan"
)

// SBOMSuffix ends the name of a binary's SPDX document in the output
// directory: docker-credential-ecr-login-NAME.spdx.json.
const SBOMSuffix = ".spdx.json"

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
		return s.writtenResult(ctx, gc, p)
	}, sessionOpt{sbomDir: dir, name: "llbgen sbom"})
	if err != nil {
		return fmt.Errorf("making the SBOMs: %w", err)
	}
	for i := range s.results {
		r := &s.results[i]
		if j, ok := p.idx[r.Binary.Name]; !ok || s.errs[j] != nil || !r.Written() {
			continue
		}
		doc, err := spdxOf(filepath.Join(dir, r.Binary.Name, "sbom"+SBOMSuffix))
		if err != nil {
			return fmt.Errorf("the SBOM of %s: %w", r.Binary.Name, err)
		}
		name := r.File + SBOMSuffix
		u := s.out.Unit()
		if err := u.Write(name, 0o644, r.Time, func(w io.Writer) error { _, err := w.Write(doc); return err }); err != nil {
			u.Drop()
			return fmt.Errorf("the SBOM of %s: %w", r.Binary.Name, err)
		}
		s.stage(u)
		r.SBOM = name
	}
	return nil
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
