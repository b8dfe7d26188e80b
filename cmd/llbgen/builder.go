package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/buildx/store"
	"github.com/docker/buildx/util/confutil"
	"github.com/docker/cli/cli/config"

	"github.com/llbgen/llbgen/pkg/daemon"
)

// envBuilder names a buildx builder, as buildx reads it.
const envBuilder = "BUILDX_BUILDER"

// builderDaemons reads the buildx builder name from buildx's own store
// (its code, its directory: $BUILDX_CONFIG, else buildx under the docker
// CLI's configuration directory) and gives the daemon of its first node,
// with that node's TLS, and a route for each other node's platforms: as
// buildx's multi-node builders share a build, each binary is built on
// the node of its platform, and on the first node when no node names it.
func builderDaemons(name, from string) (addr string, tls daemon.TLS, routes []daemon.Route, err error) {
	dir := os.Getenv("BUILDX_CONFIG")
	if dir == "" {
		dir = filepath.Join(config.Dir(), "buildx")
	}
	if _, err := os.Stat(filepath.Join(dir, "instances")); err != nil {
		return "", tls, nil, usagef("%s %s: no buildx builders in %s (%v); docker buildx create makes one, docker buildx ls lists them", from, name, dir, errors.Unwrap(err))
	}
	st, err := store.New(confutil.NewConfig(nil, confutil.WithDir(dir)))
	if err != nil {
		return "", tls, nil, fmt.Errorf("reading buildx's builders in %s: %w", dir, err)
	}
	txn, release, err := st.Txn()
	if err != nil {
		return "", tls, nil, fmt.Errorf("reading buildx's builders in %s: %w", dir, err)
	}
	defer release()
	ng, err := txn.NodeGroupByName(name)
	if errors.Is(err, fs.ErrNotExist) {
		return "", tls, nil, usagef("%s %s: no such buildx builder in %s (docker buildx ls lists them)", from, name, dir)
	}
	if err != nil {
		return "", tls, nil, usagef("%s %s: %v", from, name, err)
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

// nodeRoute is the daemon of a node of a builder of driver, as buildx's
// drivers reach it.
func nodeRoute(driver string, n store.Node) (daemon.Route, error) {
	r := daemon.Route{Platforms: n.Platforms}
	switch driver {
	case "remote":
		r.Addr = n.Endpoint
		r.TLS = daemon.TLS{CACert: n.DriverOpts["cacert"], Cert: n.DriverOpts["cert"], Key: n.DriverOpts["key"], ServerName: n.DriverOpts["servername"]}
	case "docker-container":
		if strings.Contains(n.Endpoint, "://") {
			return r, fmt.Errorf("its endpoint %s is a Docker host, and llbgen reaches a builder's container through a Docker context; make the builder on a context (docker context create)", n.Endpoint)
		}
		// buildx names the node's container so (driver.BuilderName).
		r.Addr = "docker-container://buildx_buildkit_" + n.Name
		if n.Endpoint != "" && n.Endpoint != "default" {
			r.Addr += "?context=" + n.Endpoint
		}
	case "docker":
		host, err := daemon.DockerContextHost(n.Endpoint)
		if err != nil {
			return r, fmt.Errorf("Docker context %s: %w", n.Endpoint, err)
		}
		r.Addr = daemon.DockerScheme + host
	default:
		return r, fmt.Errorf("llbgen reaches builders of the remote, docker-container and docker drivers, not %s; give the daemons with --addr", driver)
	}
	return r, nil
}
