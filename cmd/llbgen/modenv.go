package main

import (
	"fmt"
	"io"

	"github.com/llbgen/llbgen/pkg/graph"
)

// proxySecretHint tells a pipe user that the definition reads GOPROXY from a
// secret, and the buildctl flag that provides it.
func proxySecretHint(w io.Writer, env map[string]string) {
	if !graph.ProxyHasCredentials(env["GOPROXY"]) {
		return
	}
	fmt.Fprintf(w, "llbgen: GOPROXY carries credentials, so the definition reads it from the BuildKit secret %s, not from plain text: add --secret id=%s,env=GOPROXY to buildctl build\n",
		graph.ProxySecretID, graph.ProxySecretID)
}
