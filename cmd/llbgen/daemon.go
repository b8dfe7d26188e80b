package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/moby/buildkit/util/progress/progressui"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/llbgen/llbgen/pkg/daemon"
	"github.com/llbgen/llbgen/pkg/plan"
	"github.com/llbgen/llbgen/pkg/targets"
)

// daemonOptions are the flags of every verb that talks to a BuildKit daemon.
type daemonOptions struct {
	addr     string
	progress string
	tls      daemon.TLS
}

func (o *daemonOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.addr, "addr", "", "BuildKit address: unix://, tcp://, docker-container://, kube-pod://, podman-container://, ssh:// (default $BUILDKIT_HOST, then "+daemon.DefaultAddr+")")
	fs.StringVar(&o.progress, "progress", "", "progress display: auto, tty, plain, rawjson or quiet (default $BUILDKIT_PROGRESS, then auto)")
	fs.StringVar(&o.tls.CACert, "tlscacert", "", "CA certificate for a tcp:// daemon")
	fs.StringVar(&o.tls.Cert, "tlscert", "", "client certificate for a tcp:// daemon")
	fs.StringVar(&o.tls.Key, "tlskey", "", "client key for a tcp:// daemon")
	fs.StringVar(&o.tls.ServerName, "tlsservername", "", "server name the daemon's certificate must carry (default: the address's host)")
}

// addrSchemes are the address forms buildctl accepts.
var addrSchemes = []string{"unix", "tcp", "docker-container", "kube-pod", "podman-container", "nerdctl-container", "ssh", "npipe"}

// Validate fills defaults from the environment and refuses bad values
// before anything is contacted or written.
func (o *daemonOptions) Validate(stderr io.Writer) error {
	addrFrom := "--addr"
	if o.addr == "" {
		o.addr, addrFrom = os.Getenv("BUILDKIT_HOST"), "BUILDKIT_HOST"
	}
	if o.addr == "" {
		o.addr = daemon.DefaultAddr
	}
	scheme, _, ok := strings.Cut(o.addr, "://")
	if !ok || !slices.Contains(addrSchemes, scheme) {
		return usagef("%s %q: want an address such as unix:///run/buildkit/buildkitd.sock, tcp://HOST:PORT, docker-container://NAME, kube-pod://NAME, podman-container://NAME or ssh://USER@HOST", addrFrom, o.addr)
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

// options is what the pkg/daemon package takes from these flags, with in,
// what the run asks the plan for.
func (o *daemonOptions) options(stderr io.Writer, in plan.Input) daemon.Options {
	return daemon.Options{
		Addr:        o.addr,
		TLS:         o.tls,
		Progress:    progressui.DisplayMode(o.progress),
		ProgressOut: stderr,
		Plan:        in,
	}
}

// setupReachWarning is the warning `llbgen build` and `llbgen matrix` print
// when the list has setup steps and the daemon is reached over tcp://
// without a client certificate, or "": setup runs with the daemon's
// network (the host's, on a plain buildkitd), so a daemon that takes
// clients without one takes setup code too, which could then solve its own
// LLB and write llbgen's shared build cache; a lock does not help. Server
// TLS alone (--tlscacert) authenticates the daemon, not its clients.
func (o *daemonOptions) setupReachWarning(list *targets.List) string {
	if !strings.HasPrefix(o.addr, "tcp://") || o.tls.Cert != "" {
		return ""
	}
	for _, t := range list.Targets {
		if len(t.Setup) > 0 {
			return fmt.Sprintf("llbgen: warning: target %s has setup steps, which run with the daemon's network, and %s is reached without a client certificate (--tlscert, --tlskey): setup code could reach the daemon too and write llbgen's shared build cache; serve it on a unix socket or on tcp with mTLS (README, \"Security\")", t.Name, o.addr)
		}
	}
	return ""
}

// warnSetupReach prints setupReachWarning, when there is one.
func (o *daemonOptions) warnSetupReach(stderr io.Writer, list *targets.List) {
	if w := o.setupReachWarning(list); w != "" {
		fmt.Fprintln(stderr, w)
	}
}
