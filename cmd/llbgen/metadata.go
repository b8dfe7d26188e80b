package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/llbgen/llbgen/internal/atomicfile"
	"github.com/llbgen/llbgen/pkg/daemon"
	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/targets"
)

// metadata is what --metadata-file writes: the run, and per binary what
// was built from what and whether it runs in its image. README's "The
// metadata file" is its schema.
type metadata struct {
	Llbgen    string         `json:"llbgen"` // --version's line
	List      string         `json:"list"`
	Helper    metaHelper     `json:"helper"`  // the first of helpers
	Helpers   []metaHelper   `json:"helpers"` // every helper built, in the list's order
	Go        metaImage      `json:"go"`
	Daemon    *metaDaemon    `json:"daemon,omitempty"`
	Daemons   []metaDaemon   `json:"daemons,omitempty"`
	Started   *time.Time     `json:"started,omitempty"` // none in --print's
	Finished  *time.Time     `json:"finished,omitempty"`
	Seconds   float64        `json:"seconds,omitempty"`
	Output    string         `json:"output"`
	Binaries  []metaBinary   `json:"binaries"`
	Images    []metaImageOut `json:"images,omitempty"`
	CacheFrom []string       `json:"cacheFrom,omitempty"` // "registry ref=..."
	CacheTo   []string       `json:"cacheTo,omitempty"`
	Cache     string         `json:"cacheExportError,omitempty"`
	// SBOMGenerator is the generator image --sbom named ("" for BuildKit's
	// default, which the daemon picks); absent without --sbom.
	SBOMGenerator *string         `json:"sbomGenerator,omitempty"`
	Error         string          `json:"error,omitempty"` // why the run failed as a whole
	Summary       metadataSummary `json:"summary"`
}

// metaHelpers are the list's helpers, with the sums locked pins, or else
// the sums the build read (sums, by graph.ModuleKey).
func metaHelpers(list *targets.List, locked map[string]graph.LockedModule, sums, sumErrs map[string]string) []metaHelper {
	var out []metaHelper
	for _, h := range list.Helpers {
		m := metaHelper{Name: h.FileName(), Module: h.Spec().Module, Version: h.Version, Sum: locked[graph.ModuleKey(h)].Sum}
		if m.Sum == "" {
			m.Sum, m.SumError = sums[graph.ModuleKey(h)], sumErrs[graph.ModuleKey(h)]
		}
		out = append(out, m)
	}
	return out
}

type metaHelper struct {
	Name    string `json:"name"` // the helper's name: docker-credential-<name>
	Module  string `json:"module"`
	Version string `json:"version"`
	Sum     string `json:"sum,omitempty"` // the module's h1: hash: the lock's, or as the build downloaded it
	// SumError is why the build could not read the hash it downloaded.
	SumError string `json:"sumError,omitempty"`
}

type metaImage struct {
	Ref    string `json:"ref"`
	Digest string `json:"digest,omitempty"`
}

type metaDaemon struct {
	Address string `json:"address"`
	Runs    string `json:"runs,omitempty"` // "BuildKit v0.34.2"
}

type metaBinary struct {
	Target      string `json:"target"`
	Helper      string `json:"helper"` // the helper's name
	Line        int    `json:"line"`   // the target's line in the list
	Platform    string `json:"platform"`
	Image       string `json:"image"`
	ImageDigest string `json:"imageDigest,omitempty"`
	Daemon      string `json:"daemon,omitempty"` // the address of the daemon it was given to
	File        string `json:"file"`
	Size        int64  `json:"size,omitempty"`
	SHA256      string `json:"sha256,omitempty"`
	// Status is "verified", "not verified" (written, never run in its
	// image: NotVerified says why), "failed" (Cause says why), or in
	// --print's, "planned".
	Status      string   `json:"status"`
	SBOM        string   `json:"sbom,omitempty"` // the file of its SPDX document (--sbom)
	Cgo         bool     `json:"cgo,omitempty"`
	Setup       []string `json:"setup,omitempty"`
	NotVerified string   `json:"notVerified,omitempty"`
	Cause       string   `json:"cause,omitempty"`
}

type metaImageOut struct {
	What   string `json:"what"`
	Name   string `json:"name,omitempty"`
	Digest string `json:"digest,omitempty"`
	Done   string `json:"done,omitempty"`
	Cause  string `json:"cause,omitempty"`
}

// statusPlanned is a binary's status in --print's output.
const statusPlanned = "planned"

type metadataSummary struct {
	Binaries    int `json:"binaries"`
	Planned     int `json:"planned,omitempty"` // --print's
	Verified    int `json:"verified"`
	NotVerified int `json:"notVerified"`
	Failed      int `json:"failed"`
}

// newMetadata is the metadata of a run of list into out: o's results, or
// runErr when the run failed as a whole (o is nil then).
func newMetadata(list *targets.List, out string, started time.Time, o *daemon.Outcome, runErr error, cache daemon.Cache) metadata {
	finished := time.Now()
	m := metadata{
		Llbgen:   versionLine(),
		List:     list.File,
		Helpers:  metaHelpers(list, nil, nil, nil),
		Go:       metaImage{Ref: list.Go.Full},
		Started:  ptr(started.UTC()),
		Finished: ptr(finished.UTC()),
		Seconds:  finished.Sub(started).Seconds(),
		Output:   out,
		Binaries: []metaBinary{},
		// Which caches the run trusted: a cache hit is taken as the
		// daemon's own work.
		CacheFrom: daemon.CacheNames(cache.Imports),
		CacheTo:   daemon.CacheNames(cache.Exports),
	}
	m.Helper = m.Helpers[0]
	if runErr != nil {
		m.Error = daemon.OneLine(runErr.Error())
	}
	if o == nil {
		return m
	}
	m.Helpers = metaHelpers(list, o.Locked, o.Sums, o.SumErrors)
	m.Helper = m.Helpers[0]
	m.Go.Digest = o.GoDigest.String()
	m.Daemon = &metaDaemon{Address: o.Daemon, Runs: o.Runs}
	for _, d := range o.Daemons {
		m.Daemons = append(m.Daemons, metaDaemon{Address: d.Addr, Runs: d.Runs})
	}
	m.Cache = o.CacheExport
	for _, r := range o.Results {
		b := metaBinary{
			Target: r.Target.Name, Helper: r.Binary.Helper.FileName(), Line: r.Target.Pos.Line, Platform: r.Platform,
			Image: r.Target.Image.Full, ImageDigest: r.Digest.String(), Daemon: r.Daemon, File: r.File,
			Cgo: r.Binary.Cgo(), Setup: r.Target.Setup, SBOM: r.SBOM,
		}
		switch {
		case r.Verified:
			b.Status, b.Size, b.SHA256 = "verified", r.Size, r.SHA256
			m.Summary.Verified++
		case r.Unverified != "":
			b.Status, b.Size, b.SHA256, b.NotVerified = "not verified", r.Size, r.SHA256, r.Unverified
			m.Summary.NotVerified++
		default:
			b.Status, b.Cause = "failed", r.Cause
			m.Summary.Failed++
		}
		m.Binaries = append(m.Binaries, b)
	}
	m.Summary.Binaries = len(m.Binaries)
	for _, img := range o.Images {
		m.Images = append(m.Images, metaImageOut{What: img.What, Name: img.Name, Digest: img.Digest, Done: img.Done, Cause: img.Cause})
	}
	return m
}

func ptr[T any](v T) *T { return &v }

// writeMetadata writes m to path atomically: a reader sees the last run's
// whole file or this one's.
func writeMetadata(path string, m metadata) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("--metadata-file: %w", err)
	}
	if err := atomicfile.Write(path, ".llbgen-metadata-*", append(data, '\n'), 0o644, time.Time{}); err != nil {
		return fmt.Errorf("--metadata-file %s: %w", path, err)
	}
	return nil
}

// checkMetadataPath refuses, before anything is built, a metadata file
// that could not be written (a directory at its path, no directory to
// hold it) or that would be in the output directory, which holds only the
// list's binaries, their build information and SHA256SUMS, under its lock.
func checkMetadataPath(path, out string) error {
	if path == "" {
		return nil
	}
	dir := filepath.Dir(path)
	if same(dir, out) {
		return usagef("--metadata-file %s is in the output directory %s, which holds only the binaries and SHA256SUMS; write it beside, e.g. --metadata-file %s", path, out, filepath.Join(filepath.Dir(filepath.Clean(out)), "llbgen-metadata.json"))
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return usagef("--metadata-file %s is a directory; name a file", path)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return usagef("--metadata-file %s: its directory %s does not exist; create it first", path, dir)
	}
	return nil
}

// same reports whether two directory paths name one directory: the same
// absolute path, or, where both exist, the same file.
func same(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	if err1 == nil && err2 == nil && aa == bb {
		return true
	}
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}
