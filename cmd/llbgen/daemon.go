package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/util/progress/progressui"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/llbgen/llbgen/pkg/daemon"
	"github.com/llbgen/llbgen/pkg/plan"
	"github.com/llbgen/llbgen/pkg/targets"
)

// daemonOptions are the flags of every verb that talks to a BuildKit daemon.
type daemonOptions struct {
	addrs    []string // --addr, as given
	addr     string   // the default daemon: --addr without a platform, or BUILDKIT_HOST
	routes   []daemon.Route
	routable bool   // the verb builds binaries on several daemons (llbgen build)
	builder  string // --builder: a buildx builder's daemons
	progress string
	tls      daemon.TLS
	// settled is told the address the run settles on (warnSetupReach).
	settled func(addr string)
}

func (o *daemonOptions) addFlags(fs *pflag.FlagSet) {
	usage := "a BuildKit daemon's address (unix://, tcp://, docker-container://, kube-pod://, podman-container://, ssh://), or docker://[HOST] for a Docker Engine's own BuildKit (HOST as in DOCKER_HOST; none: the engine the docker CLI uses) (default $BUILDKIT_HOST, else " + daemon.DefaultAddr + " when a daemon answers there, else docker://)"
	if o.routable {
		usage += "; PLATFORM[,PLATFORM...]=ADDR builds the binaries of those platforms on that daemon (repeatable)"
	}
	fs.StringArrayVar(&o.addrs, "addr", nil, usage)
	bu := "build on the daemon of a buildx builder (its first node), read from buildx's store (default $" + envBuilder + " when neither --addr nor $BUILDKIT_HOST is set)"
	if o.routable {
		bu = "build on the nodes of a buildx builder, each binary on the node of its platform, else the first node; read from buildx's store (default $" + envBuilder + " when neither --addr nor $BUILDKIT_HOST is set)"
	}
	fs.StringVar(&o.builder, "builder", "", bu)
	fs.StringVar(&o.progress, "progress", "", "progress display: auto, tty, plain, rawjson or quiet (default $BUILDKIT_PROGRESS, then auto)")
	fs.StringVar(&o.tls.CACert, "tlscacert", "", "CA certificate for a tcp:// daemon")
	fs.StringVar(&o.tls.Cert, "tlscert", "", "client certificate for a tcp:// daemon")
	fs.StringVar(&o.tls.Key, "tlskey", "", "client key for a tcp:// daemon")
	fs.StringVar(&o.tls.ServerName, "tlsservername", "", "server name the daemon's certificate must carry (default: the address's host)")
}

// addrSchemes are the address forms buildctl accepts, and docker://.
var addrSchemes = []string{"unix", "tcp", "docker-container", "kube-pod", "podman-container", "nerdctl-container", "ssh", "npipe", "docker"}

// Validate fills defaults from the environment and refuses bad values
// before anything is contacted or written. With neither --addr nor
// BUILDKIT_HOST the address stays empty: pkg/daemon takes a BuildKit
// daemon at its default address when one answers, else Docker Engine.
func (o *daemonOptions) Validate(stderr io.Writer) error {
	if err := o.validateAddr(); err != nil {
		return err
	}
	progressFrom := "--progress"
	if o.progress == "" {
		o.progress, progressFrom = os.Getenv("BUILDKIT_PROGRESS"), "BUILDKIT_PROGRESS"
	}
	if o.progress == "" {
		o.progress = string(progressui.AutoMode)
	}
	switch progressui.DisplayMode(o.progress) {
	case progressui.AutoMode, progressui.PlainMode, progressui.RawJSONMode, progressui.QuietMode:
	case progressui.TtyMode:
		if f, ok := stderr.(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
			return usagef("%s tty: standard error is not a terminal; use auto or plain", progressFrom)
		}
	default:
		return usagef("%s %q: want auto, tty, plain, rawjson or quiet", progressFrom, o.progress)
	}
	if _, docker := daemon.DockerHost(o.addr); docker && o.tls != (daemon.TLS{}) {
		return usagef("--tlscacert, --tlscert, --tlskey and --tlsservername are for a BuildKit daemon over tcp://; Docker Engine at %s takes TLS from DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, as the docker CLI does", strings.TrimPrefix(o.addr, daemon.DockerScheme))
	}
	if (o.tls.Cert == "") != (o.tls.Key == "") {
		return usagef("--tlscert and --tlskey go together")
	}
	for flag, path := range map[string]string{"--tlscacert": o.tls.CACert, "--tlscert": o.tls.Cert, "--tlskey": o.tls.Key} {
		if path == "" {
			continue
		}
		if _, err := os.Stat(path); err != nil {
			return usagef("%s: %v", flag, err)
		}
	}
	return nil
}

// validateAddr takes the default daemon's address from --addr or
// BUILDKIT_HOST, and the routes from --addr PLATFORM=ADDR, and refuses an
// address llbgen cannot dial; docker:// alone becomes the engine the
// docker CLI would use (daemon.EnvDockerHost).
func (o *daemonOptions) validateAddr() error {
	var plain []string
	seen := map[string]string{}
	for _, a := range o.addrs {
		ps, addr, ok := splitRoute(a)
		if !ok {
			plain = append(plain, a)
			continue
		}
		if !o.routable {
			return usagef("--addr %s: routing platforms to daemons is for llbgen build; give one --addr", a)
		}
		var r daemon.Route
		for _, s := range strings.Split(ps, ",") {
			p, err := targets.ParsePlatform(strings.TrimSpace(s))
			if err != nil {
				return usagef("--addr %s: %v", a, err)
			}
			key := platforms.Format(p)
			if before, twice := seen[key]; twice {
				return usagef("--addr %s: %s is routed already (--addr %s); route each platform to one daemon", a, key, before)
			}
			seen[key] = a
			r.Platforms = append(r.Platforms, p)
		}
		var err error
		if r.Addr, err = checkAddr("--addr "+ps+"=", addr); err != nil {
			return err
		}
		// The TLS flags are for the tcp:// daemons; the server name is
		// one daemon's.
		if strings.HasPrefix(r.Addr, "tcp://") {
			r.TLS = o.tls
		} else if _, docker := daemon.DockerHost(r.Addr); docker && o.tls != (daemon.TLS{}) {
			return usagef("--tlscacert, --tlscert, --tlskey and --tlsservername are for a BuildKit daemon over tcp://; Docker Engine at %s (--addr %s) takes TLS from DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, as the docker CLI does", strings.TrimPrefix(r.Addr, daemon.DockerScheme), a)
		}
		o.routes = append(o.routes, r)
	}
	if o.builder != "" && len(o.addrs) > 0 {
		return usagef("--builder %s and --addr both name daemons; give one", o.builder)
	}
	builder, from := o.builder, "--builder"
	if builder == "" && len(o.addrs) == 0 && os.Getenv("BUILDKIT_HOST") == "" {
		builder, from = os.Getenv(envBuilder), envBuilder
	}
	if builder != "" {
		return o.useBuilder(builder, from)
	}
	if len(plain) > 1 {
		return usagef("--addr is given %d times without a platform (%s): one daemon is the default; route the others with --addr PLATFORM=ADDR", len(plain), strings.Join(plain, ", "))
	}
	addrFrom := "--addr"
	if len(plain) == 1 {
		o.addr = plain[0]
	} else {
		o.addr, addrFrom = os.Getenv("BUILDKIT_HOST"), "BUILDKIT_HOST"
	}
	if o.addr == "" {
		return nil
	}
	var err error
	if o.addr, err = checkAddr(addrFrom, o.addr); err != nil {
		return err
	}
	// --tlsservername names one daemon's certificate.
	tcp := 0
	for _, a := range append([]string{o.addr}, routeAddrs(o.routes)...) {
		if strings.HasPrefix(a, "tcp://") {
			tcp++
		}
	}
	if o.tls.ServerName != "" && tcp > 1 {
		return usagef("--tlsservername names one daemon's certificate, and %d daemons are reached over tcp://; leave it out (each certificate must then carry its address's host), or use --builder, whose nodes each have their own", tcp)
	}
	return nil
}

func routeAddrs(rs []daemon.Route) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Addr)
	}
	return out
}

// useBuilder takes the daemons from the buildx builder name.
func (o *daemonOptions) useBuilder(name, from string) error {
	addr, tls, routes, err := builderDaemons(name, from)
	if err != nil {
		return err
	}
	if len(routes) > 0 && !o.routable {
		return usagef("%s %s has %d nodes, and this command builds on one daemon; give its first node's address with --addr", from, name, len(routes)+1)
	}
	if o.tls == (daemon.TLS{}) {
		o.tls = tls
	}
	if o.addr, err = checkAddr(from+" "+name+":", addr); err != nil {
		return err
	}
	for _, r := range routes {
		if r.Addr, err = checkAddr(from+" "+name+":", r.Addr); err != nil {
			return err
		}
		o.routes = append(o.routes, r)
	}
	return nil
}

// splitRoute splits PLATFORMS=ADDR; ok is false for an address alone (an
// address may hold "=" after its scheme: kube-pod://pod?namespace=ns).
func splitRoute(a string) (ps, addr string, ok bool) {
	eq, scheme := strings.Index(a, "="), strings.Index(a, "://")
	if eq < 0 || scheme >= 0 && scheme < eq {
		return "", a, false
	}
	return a[:eq], a[eq+1:], true
}

// checkAddr refuses an address llbgen cannot dial, said to come from
// addrFrom; docker:// alone becomes the engine the docker CLI would use.
func checkAddr(addrFrom, addr string) (string, error) {
	scheme, _, ok := strings.Cut(addr, "://")
	if !ok || !slices.Contains(addrSchemes, scheme) {
		return "", usagef("%s %q: want an address such as unix:///run/buildkit/buildkitd.sock, tcp://HOST:PORT, docker-container://NAME, kube-pod://NAME, podman-container://NAME, ssh://USER@HOST, or docker://[HOST] for Docker Engine", strings.TrimSuffix(addrFrom, "="), addr)
	}
	host, ok := daemon.DockerHost(addr)
	if !ok {
		return addr, nil
	}
	given, hostFrom := addr, addrFrom
	if host == "" {
		var err error
		if host, hostFrom, err = daemon.EnvDockerHost(); err != nil {
			return "", usagef("%s %s: %v", addrFrom, addr, err)
		}
		given = host
	}
	if err := daemon.CheckDockerHost(host); err != nil {
		return "", usagef("%s %q: %v", hostFrom, given, err)
	}
	return daemon.DockerScheme + host, nil
}

// options is what the pkg/daemon package takes from these flags, with in,
// what the run asks the plan for.
func (o *daemonOptions) options(stderr io.Writer, in plan.Input) daemon.Options {
	tls := o.tls
	if len(o.routes) > 0 && !strings.HasPrefix(o.addr, "tcp://") {
		tls = daemon.TLS{} // the TLS flags are for the tcp:// daemons
	}
	return daemon.Options{
		Addr:        o.addr,
		TLS:         tls,
		Progress:    progressui.DisplayMode(o.progress),
		ProgressOut: stderr,
		Plan:        in,
		Settled:     o.settled,
		Routes:      o.routes,
		StageTool:   stageToolExe,
	}
}

// setupReachWarning is the warning `llbgen build` and `llbgen matrix` print
// when the list has setup steps and the daemon (o.addr: the address the
// run settled on, see warnSetupReach) is reached over tcp://
// without a client certificate, or "": setup runs with the daemon's
// network (the host's, on a plain buildkitd), so a daemon that takes
// clients without one takes setup code too, which could then solve its own
// LLB and write llbgen's shared build cache; a lock does not help. Server
// TLS alone (--tlscacert) authenticates the daemon, not its clients.
//
// A Docker Engine over tcp:// without a client certificate (TLS off, or
// DOCKER_TLS_VERIFY with ca.pem alone) is the same, and worse: setup code
// could drive the whole engine.
func (o *daemonOptions) setupReachWarning(list *targets.List) string {
	what, how := o.addr, "a client certificate (--tlscert, --tlskey)"
	if host, ok := daemon.DockerHost(o.addr); ok {
		if !strings.HasPrefix(host, "tcp://") {
			return ""
		}
		files, err := daemon.EnvDockerTLS()
		if err != nil || files.ClientCert() {
			return "" // an error: the run refuses the engine before setup runs
		}
		what, how = "Docker Engine at "+host, "TLS (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH)"
		if files != nil {
			how = "a client certificate (no cert.pem and key.pem in " + files.Dir + ", DOCKER_CERT_PATH)"
		}
	} else if !strings.HasPrefix(o.addr, "tcp://") || o.tls.Cert != "" {
		return ""
	}
	for _, t := range list.Targets {
		if len(t.Setup) > 0 {
			return fmt.Sprintf("llbgen: warning: target %s has setup steps, which run with the daemon's network, and %s is reached without %s: setup code could reach the daemon too and write llbgen's shared build cache; serve it on a unix socket or on tcp with mTLS (README, \"Security\")", t.Name, what, how)
		}
	}
	return ""
}

// warnSetupReach has the run print setupReachWarning on stderr, when there
// is one, for each daemon it settles on (daemon.Options.Settled), once: a
// given address before it is contacted; with none, the default BuildKit
// daemon or the Docker Engine llbgen falls back to once it answered, which
// may be a tcp:// one (DOCKER_HOST) without TLS.
func (o *daemonOptions) warnSetupReach(stderr io.Writer, list *targets.List) {
	var mu sync.Mutex
	warned := map[string]bool{}
	o.settled = func(addr string) {
		mu.Lock()
		defer mu.Unlock()
		if warned[addr] {
			return
		}
		warned[addr] = true
		at := *o
		at.addr = addr
		for _, r := range o.routes {
			if r.Addr == addr {
				at.tls = r.TLS // that daemon's own
			}
		}
		if w := at.setupReachWarning(list); w != "" {
			fmt.Fprintln(stderr, w)
		}
	}
}
