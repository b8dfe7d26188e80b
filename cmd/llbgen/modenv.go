package main

import (
	"fmt"
	"io"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/lock"
)

// checkSumDB refuses, as bad input, module settings that would skip the Go
// checksum database for the helper module, unless lk pins its hash: then
// the lock is the check.
func checkSumDB(env map[string]string, lk *lock.File) error {
	if err := graph.CheckSumDB(env, lk != nil && lk.Helper.Sum != "", ""); err != nil {
		return usageError{err}
	}
	return nil
}

// proxySecretHint tells a pipe user that the definition reads GOPROXY from a
// secret, and the buildctl flag that provides it.
func proxySecretHint(w io.Writer, env map[string]string) {
	if !graph.ProxyHasCredentials(env["GOPROXY"]) {
		return
	}
	fmt.Fprintf(w, "llbgen: GOPROXY carries credentials, so the definition reads it from the BuildKit secret %s, not from plain text: add --secret id=%s,env=GOPROXY to buildctl build\n",
		graph.ProxySecretID, graph.ProxySecretID)
}
