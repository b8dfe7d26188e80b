package publish

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/solver/pb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Part is an image on one platform: its definition and its config.
type Part struct {
	Platform   ocispecs.Platform
	Definition *pb.Definition
	Config     []byte
	// BaseConfig is a job image's target image's config: the exporter
	// keeps the layers it names as they are (rewrite-timestamp rewrites
	// only the layer llbgen adds). Nil for the helpers image.
	BaseConfig []byte
}

// Result solves img's parts and returns them as one gateway result that
// an image exporter turns into img: one manifest, or an index of one per
// platform. The result carries img's name (exptypes' image.name), which
// an exporter given name=* takes.
func Result(ctx context.Context, gc gateway.Client, img Image, parts []Part) (*gateway.Result, error) {
	res := gateway.NewResult()
	var ps exptypes.Platforms
	for _, p := range parts {
		r, err := gc.Solve(ctx, gateway.SolveRequest{Definition: p.Definition, Evaluate: true})
		if err != nil {
			return nil, err
		}
		ref, err := r.SingleRef()
		if err != nil {
			return nil, fmt.Errorf("%s for %s: %w", img.What(), platforms.Format(p.Platform), err)
		}
		id := platforms.FormatAll(p.Platform)
		key := func(k string) string { return k + "/" + id }
		if len(parts) == 1 {
			res.SetRef(ref)
			key = func(k string) string { return k }
		} else {
			res.AddRef(id, ref)
		}
		res.AddMeta(key(exptypes.ExporterImageConfigKey), p.Config)
		if p.BaseConfig != nil {
			res.AddMeta(key(exptypes.ExporterImageBaseConfigKey), p.BaseConfig)
		}
		ps.Platforms = append(ps.Platforms, exptypes.Platform{ID: id, Platform: p.Platform})
	}
	if len(parts) > 1 {
		data, err := json.Marshal(ps)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", img.What(), err)
		}
		res.AddMeta(exptypes.ExporterPlatformsKey, data)
	}
	res.AddMeta(exptypes.ExporterImageNameKey, []byte(img.Name))
	return res, nil
}

// SolveRef marshals st for platform p with marshal and solves it through
// gc: the reference FileReader, Hasher and the frontend read files from.
func SolveRef(ctx context.Context, gc gateway.Client, marshal func(llb.State, ocispecs.Platform) (*pb.Definition, error), st llb.State, p ocispecs.Platform) (gateway.Reference, error) {
	def, err := marshal(st, p)
	if err != nil {
		return nil, err
	}
	res, err := gc.Solve(ctx, gateway.SolveRequest{Definition: def})
	if err != nil {
		return nil, err
	}
	return res.SingleRef()
}

// maxRead bounds a file read from a target image (/etc/passwd,
// config.json).
const maxRead = 1 << 20

// FileReader is Inputs.ReadFile through a gateway client: the state is
// marshalled with marshal and solved, and the file read, at most 1 MiB;
// a file that is not there reads as nil. The file is read, never run or
// followed out of the image: BuildKit resolves its path inside the
// image's root.
func FileReader(ctx context.Context, gc gateway.Client, marshal func(llb.State, ocispecs.Platform) (*pb.Definition, error)) func(llb.State, ocispecs.Platform, string) ([]byte, error) {
	return func(st llb.State, p ocispecs.Platform, name string) ([]byte, error) {
		ref, err := SolveRef(ctx, gc, marshal, st, p)
		if err != nil {
			return nil, err
		}
		stat, err := ref.StatFile(ctx, gateway.StatRequest{Path: name})
		if err != nil {
			// BuildKit sends the error as text: a file that is not
			// there, or a path its symlinks cannot resolve (continuity's
			// RootPath: "too many links"), reads as absent.
			if absent(err) {
				return nil, nil
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if !os.FileMode(stat.Mode).IsRegular() {
			return nil, fmt.Errorf("%s: %w", name, ErrNotRegular)
		}
		if stat.Size > maxRead {
			return nil, fmt.Errorf("%s is %d bytes, more than the %d read: %w", name, stat.Size, maxRead, ErrNotRegular)
		}
		return ref.ReadFile(ctx, gateway.ReadRequest{Filename: name, Range: &gateway.FileRange{Length: maxRead}})
	}
}

// absent reports whether err, from BuildKit's file API, which sends it as
// text, says a path holds no file: not there, or a path its symlinks
// cannot resolve (continuity's RootPath: "too many links").
func absent(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "no such file or directory") || strings.Contains(msg, "not a directory") ||
		strings.Contains(msg, "too many links") || strings.Contains(msg, "too many levels of symbolic links")
}

// maxBinary bounds a file Hasher reads: far above any helper binary.
const maxBinary = 512 << 20

// hashChunk keeps each read under gRPC's message size limit.
const hashChunk = 4 << 20

// Hasher is Inputs.Hash through a gateway client: the state is solved and
// the file read in chunks and hashed; it must be a regular file.
func Hasher(ctx context.Context, gc gateway.Client, marshal func(llb.State, ocispecs.Platform) (*pb.Definition, error)) func(llb.State, ocispecs.Platform, string) (string, error) {
	return func(st llb.State, p ocispecs.Platform, name string) (string, error) {
		ref, err := SolveRef(ctx, gc, marshal, st, p)
		if err != nil {
			return "", err
		}
		stat, err := ref.StatFile(ctx, gateway.StatRequest{Path: name})
		if err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		if !os.FileMode(stat.Mode).IsRegular() || stat.Size > maxBinary {
			return "", fmt.Errorf("%s: %w of at most %d bytes", name, ErrNotRegular, maxBinary)
		}
		h := sha256.New()
		for off := int64(0); off < stat.Size; off += hashChunk {
			data, err := ref.ReadFile(ctx, gateway.ReadRequest{Filename: name, Range: &gateway.FileRange{Offset: int(off), Length: int(min(hashChunk, stat.Size-off))}})
			if err != nil {
				return "", fmt.Errorf("%s: %w", name, err)
			}
			h.Write(data)
		}
		return hex.EncodeToString(h.Sum(nil)), nil
	}
}
