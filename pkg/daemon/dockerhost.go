package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/connhelper"
	"github.com/moby/buildkit/client"
	dockerclient "github.com/moby/moby/client"
	digest "github.com/opencontainers/go-digest"
)

// DockerScheme starts the address of a Docker Engine, whose built-in
// BuildKit llbgen solves on the way buildx's docker driver does: gRPC and
// the session over the engine's API (its /grpc and /session endpoints).
//
//	docker://      the engine the docker CLI would use (EnvDockerHost):
//	               DOCKER_HOST, else the Docker context DOCKER_CONTEXT or
//	               the CLI's config names, else DefaultDockerHost
//	docker://HOST  the engine at HOST, in DOCKER_HOST's forms:
//	               unix:///PATH, tcp://HOST:PORT, ssh://[USER@]HOST[:PORT][/SOCKET]
//
// A tcp:// engine takes TLS from DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, as
// the docker CLI does; an ssh:// one is reached through `ssh HOST docker
// system dial-stdio`, as the docker CLI does.
const DockerScheme = "docker://"

// DefaultDockerHost is where Docker Engine listens when nothing says otherwise.
const DefaultDockerHost = dockerclient.DefaultDockerHost

// DockerHost returns the Docker Engine address of a docker:// address
// ("" for docker:// alone), and whether addr is one.
func DockerHost(addr string) (string, bool) {
	return strings.CutPrefix(addr, DockerScheme)
}

// EnvDockerHost is the engine docker:// means, picked as the docker CLI
// picks it: DOCKER_HOST; else the endpoint of the Docker context that
// DOCKER_CONTEXT, or the CLI config's currentContext, names (Docker
// Desktop, colima and the like make one current), unless it is "default";
// else DefaultDockerHost. from says where it came from, for messages.
func EnvDockerHost() (host, from string, err error) {
	if h := os.Getenv(dockerclient.EnvOverrideHost); h != "" {
		return h, dockerclient.EnvOverrideHost, nil
	}
	name, src := os.Getenv("DOCKER_CONTEXT"), "DOCKER_CONTEXT"
	if name == "" {
		name, src = currentContext(), "currentContext in "+filepath.Join(dockerConfigDir(), config.ConfigFileName)
	}
	if name == "" || name == "default" {
		return DefaultDockerHost, "Docker's default", nil
	}
	from = "Docker context " + name
	if host, err = contextHost(name); err != nil {
		return "", from, fmt.Errorf("%s (%s): %w", from, src, err)
	}
	return host, from, nil
}

// dockerConfigDir is the docker CLI's configuration directory:
// DOCKER_CONFIG, else ~/.docker.
func dockerConfigDir() string {
	if d := os.Getenv(config.EnvOverrideConfigDir); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".docker")
}

// currentContext is the docker CLI config's currentContext, "" when none.
func currentContext() string {
	data, err := os.ReadFile(filepath.Join(dockerConfigDir(), config.ConfigFileName))
	if err != nil {
		return ""
	}
	var cfg struct {
		CurrentContext string `json:"currentContext"`
	}
	if json.Unmarshal(data, &cfg) != nil {
		return ""
	}
	return cfg.CurrentContext
}

// contextHost is the Docker Engine address of the Docker context name, as
// the docker CLI stores it: contexts/meta/<sha256 of name>/meta.json in its
// configuration directory. A context that reaches its engine with TLS
// files of its own is refused: llbgen takes TLS only from the environment.
func contextHost(name string) (string, error) {
	id := digest.FromString(name).Encoded()
	dir := filepath.Join(dockerConfigDir(), "contexts")
	data, err := os.ReadFile(filepath.Join(dir, "meta", id, "meta.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("no such Docker context (docker context ls lists them)")
	}
	if err != nil {
		return "", err
	}
	var meta struct {
		Endpoints map[string]struct{ Host string }
	}
	if err := json.Unmarshal(data, &meta); err != nil {
		return "", fmt.Errorf("reading the context: %w", err)
	}
	host := meta.Endpoints["docker"].Host
	if host == "" {
		return "", fmt.Errorf("the context names no Docker Engine")
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "tls", id, "docker")); len(entries) > 0 {
		return "", fmt.Errorf("the context reaches %s with TLS files of its own; llbgen takes TLS from DOCKER_TLS_VERIFY and DOCKER_CERT_PATH: set them and DOCKER_HOST=%s", host, host)
	}
	return host, nil
}

// CheckDockerHost refuses a Docker Engine address llbgen cannot dial, before
// anything is dialled.
func CheckDockerHost(host string) error {
	scheme, rest, ok := strings.Cut(host, "://")
	if !ok {
		return fmt.Errorf("want unix:///PATH, tcp://HOST:PORT or ssh://[USER@]HOST")
	}
	switch scheme {
	case "unix":
		if !strings.HasPrefix(rest, "/") {
			return fmt.Errorf("want unix:///PATH, an absolute path to Docker's socket")
		}
	case "tcp":
		u, err := url.Parse(host)
		if err != nil || u.Hostname() == "" || u.Port() == "" || u.User != nil || u.RawQuery != "" {
			return fmt.Errorf("want tcp://HOST:PORT (2376 with TLS, 2375 without)")
		}
	case "ssh":
		if _, err := connhelper.GetConnectionHelper(host); err != nil {
			return fmt.Errorf("want ssh://[USER@]HOST[:PORT][/SOCKET]: %v", err)
		}
	case "npipe":
		if runtime.GOOS != "windows" {
			return fmt.Errorf("npipe:// is for Windows; want unix:///PATH, tcp://HOST:PORT or ssh://[USER@]HOST")
		}
	default:
		return fmt.Errorf("want unix:///PATH, tcp://HOST:PORT or ssh://[USER@]HOST, not %s://", scheme)
	}
	return nil
}

// describe names the daemon at addr in messages: "Docker Engine at HOST"
// for a docker:// address, "BuildKit at ADDR" otherwise.
func describe(addr string) string {
	if host, ok := DockerHost(addr); ok {
		return "Docker Engine at " + host
	}
	return "BuildKit at " + addr
}

// dockerAPI is a client of the Docker Engine API at host.
func dockerAPI(host string) (*dockerclient.Client, error) {
	opts := []dockerclient.Opt{dockerclient.WithAPIVersionNegotiation()}
	switch {
	case strings.HasPrefix(host, "ssh://"):
		h, err := connhelper.GetConnectionHelper(host)
		if err != nil {
			return nil, err
		}
		opts = append(opts, dockerclient.WithHost(h.Host), dockerclient.WithDialContext(h.Dialer))
	case strings.HasPrefix(host, "tcp://"):
		tlsOpt, err := dockerTLSFromEnv()
		if err != nil {
			return nil, err
		}
		opts = append(opts, dockerclient.WithHost(host))
		if tlsOpt != nil {
			opts = append(opts, tlsOpt)
		}
	default:
		opts = append(opts, dockerclient.WithHost(host))
	}
	return dockerclient.New(opts...)
}

// DockerTLSFiles are the TLS files the docker CLI uses for a tcp:// engine
// when DOCKER_TLS_VERIFY is set: ca.pem, cert.pem and key.pem, each its
// path when it exists in Dir (DOCKER_CERT_PATH, default the docker CLI's
// configuration directory), else "".
type DockerTLSFiles struct {
	Dir, CA, Cert, Key string
}

// EnvDockerTLS is the TLS the docker CLI takes from the environment for a
// tcp:// engine: nil without DOCKER_TLS_VERIFY (no TLS). A directory with
// one of cert.pem and key.pem but not the other is refused.
func EnvDockerTLS() (*DockerTLSFiles, error) {
	if os.Getenv(dockerclient.EnvTLSVerify) == "" {
		return nil, nil
	}
	dir := os.Getenv(dockerclient.EnvOverrideCertPath)
	if dir == "" {
		dir = dockerConfigDir()
	}
	file := func(name string) string {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err != nil {
			return ""
		}
		return p
	}
	f := &DockerTLSFiles{Dir: dir, CA: file("ca.pem"), Cert: file("cert.pem"), Key: file("key.pem")}
	if (f.Cert == "") != (f.Key == "") {
		return nil, fmt.Errorf("DOCKER_TLS_VERIFY: %s holds one of cert.pem and key.pem, not both", dir)
	}
	return f, nil
}

// ClientCert says whether the engine is shown a client certificate
// (cert.pem and key.pem). TLS without one (ca.pem alone) authenticates the
// engine to llbgen, not its clients to the engine.
func (f *DockerTLSFiles) ClientCert() bool {
	return f != nil && f.Cert != "" && f.Key != ""
}

// dockerTLSFromEnv is the client option for EnvDockerTLS; nil means no TLS.
func dockerTLSFromEnv() (dockerclient.Opt, error) {
	f, err := EnvDockerTLS()
	if f == nil || err != nil {
		return nil, err
	}
	return dockerclient.WithTLSClientConfig(f.CA, f.Cert, f.Key), nil
}

// dialDocker opens a BuildKit client on the engine's built-in BuildKit, as
// buildx's docker driver does: each gRPC connection and each session is an
// HTTP connection to the engine's API upgraded to the protocol. The API
// client stays open for the sessions' dials.
func dialDocker(ctx context.Context, host string) (*client.Client, *dockerclient.Client, error) {
	api, err := dockerAPI(host)
	if err != nil {
		return nil, nil, err
	}
	c, err := client.New(ctx, "",
		client.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return api.DialHijack(ctx, "/grpc", "h2c", nil)
		}),
		client.WithSessionDialer(func(ctx context.Context, proto string, meta map[string][]string) (net.Conn, error) {
			return api.DialHijack(ctx, "/session", proto, meta)
		}))
	if err != nil {
		api.Close()
		return nil, nil, err
	}
	return c, api, nil
}

// NoDaemonError says that neither a BuildKit daemon at DefaultAddr nor a
// Docker Engine answered, when no address was given.
type NoDaemonError struct {
	BuildKitAddr string // DefaultAddr
	BuildKit     error  // why it did not answer
	DockerHost   string // the engine tried
	Docker       error  // why it did not answer
}

func (e *NoDaemonError) Error() string {
	return fmt.Sprintf("no BuildKit daemon at %s (%s) and no Docker Engine at %s (%s); %s",
		e.BuildKitAddr, reason(e.BuildKit), e.DockerHost, reason(e.Docker), HowToGetADaemon)
}

// reason is why an address did not answer, short: from gRPC's "connection
// error: desc = "transport: Error while dialing: dial unix /x: connect: no
// such file or directory"", the dial's own words.
func reason(err error) string {
	if u := (*UnreachableError)(nil); errors.As(err, &u) {
		err = u.Err
	}
	s := err.Error()
	if i := strings.LastIndex(s, "dial "); i >= 0 {
		return strings.TrimRight(s[i:], `")`)
	}
	return s
}

// DockerContextHost is the Docker Engine address of the Docker context
// name, as the docker CLI resolves it: "default" is DOCKER_HOST, else
// DefaultDockerHost.
func DockerContextHost(name string) (string, error) {
	if name == "default" {
		if h := os.Getenv(dockerclient.EnvOverrideHost); h != "" {
			return h, nil
		}
		return DefaultDockerHost, nil
	}
	return contextHost(name)
}
