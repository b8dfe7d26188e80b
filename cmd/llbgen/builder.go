package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/buildx/store"
	"github.com/docker/cli/cli/config"

	"github.com/llbgen/llbgen/pkg/daemon"
)

// envBuilder names a buildx builder, as buildx reads it.
const envBuilder = "BUILDX_BUILDER"

// builderDaemons reads the buildx builder name from buildx's own store
// ($BUILDX_CONFIG, else buildx under the docker CLI's configuration
// directory): the file buildx keeps for it, as buildx's store type
// (store.NodeGroup) after buildx's own name check, read without taking
// buildx's lock or writing anything there. It gives the daemon of its
// first node, with that node's TLS, and a route for each other node's
// platforms: as buildx's multi-node builders share a build, each binary
// is built on the node of its platform, and on the first node when no
// node names it. "default", or a Docker context's name, that is no builder
// in the store is that engine's own BuildKit, as buildx takes it.
func builderDaemons(name, from string) (addr string, tls daemon.TLS, routes []daemon.Route, err error) {
	dir := os.Getenv("BUILDX_CONFIG")
	if dir == "" {
		dir = filepath.Join(config.Dir(), "buildx")
	}
	key, err := store.ValidateName(name)
	if err != nil {
		return "", tls, nil, usagef("%s %s: %v", from, name, err)
	}
	data, err := readBounded(filepath.Join(dir, "instances", key), maxBuilderBytes)
	if errors.Is(err, fs.ErrNotExist) {
		if host, herr := daemon.DockerContextHost(name); herr == nil {
			return daemon.DockerScheme + host, tls, nil, nil // buildx's docker driver: the engine of that context
		}
		return "", tls, nil, usagef("%s %s: no such buildx builder in %s, nor a Docker context of that name (docker buildx ls lists them)", from, name, dir)
	}
	if err != nil {
		return "", tls, nil, usagef("%s %s: reading buildx's builder: %v", from, name, err)
	}
	var ng store.NodeGroup
	if err := json.Unmarshal(data, &ng); err != nil {
		return "", tls, nil, usagef("%s %s: reading buildx's builder in %s: %v", from, name, dir, err)
	}
	if len(ng.Nodes) == 0 {
		return "", tls, nil, usagef("%s %s: the builder has no nodes", from, name)
	}
	for i, n := range ng.Nodes {
		r, err := nodeRoute(ng.Driver, n)
		if err != nil {
			return "", tls, nil, usagef("%s %s: node %s: %v", from, name, n.Name, err)
		}
		if i == 0 {
			addr, tls = r.Addr, r.TLS
			continue
		}
		if len(r.Platforms) == 0 {
			return "", tls, nil, usagef("%s %s: node %s names no platforms, so no binary would be built there; give it some (docker buildx create --append --name %s --node %s --platform linux/arm64 ...)", from, name, n.Name, name, n.Name)
		}
		routes = append(routes, r)
	}
	return addr, tls, routes, nil
}

// maxBuilderBytes bounds a builder's file in buildx's store.
const maxBuilderBytes = 1 << 20

// readBounded reads at most max bytes of path, refusing more.
func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is more than %d bytes", path, max)
	}
	return data, nil
}

// nodeRoute is the daemon of a node of a builder of driver, as buildx's
// drivers reach it.
func nodeRoute(driver string, n store.Node) (daemon.Route, error) {
	r := daemon.Route{Platforms: n.Platforms}
	switch driver {
	case "remote":
		r.Addr = n.Endpoint
		r.TLS = daemon.TLS{CACert: n.DriverOpts["cacert"], Cert: n.DriverOpts["cert"], Key: n.DriverOpts["key"], ServerName: n.DriverOpts["servername"]}
	case "docker-container":
		// buildx names the node's container so (driver.BuilderName), and
		// stores the engine it runs on as a Docker context's name or, for
		// the default context, its engine's address.
		ctx := n.Endpoint
		if strings.Contains(ctx, "://") {
			if def, err := daemon.DockerContextHost("default"); err != nil || def != ctx {
				return r, fmt.Errorf("its container runs on the Docker Engine at %s, which is no Docker context's; llbgen reaches a builder's container through a context: make one for it (docker context create NAME --docker host=%s) and the builder on it", ctx, ctx)
			}
			ctx = "default"
		}
		if ctx == "" {
			ctx = "default"
		}
		r.Addr = "docker-container://buildx_buildkit_" + n.Name + "?context=" + url.QueryEscape(ctx)
	default:
		return r, fmt.Errorf("llbgen reaches builders of the remote and docker-container drivers (and the docker driver's, by the Docker context's name), not %s; give the daemons with --addr", driver)
	}
	return r, nil
}
