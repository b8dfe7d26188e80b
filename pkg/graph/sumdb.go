package graph

import (
	"fmt"
	"strings"

	"golang.org/x/mod/module"
)

// SumDBError says that a module setting would let the download stage take
// the helper module without checking it against the Go checksum database.
type SumDBError struct {
	From    string // "" for llbgen's environment, "build-arg:" for the frontend's build arguments
	Var     string // GONOSUMDB, or GOPRIVATE when GONOSUMDB is empty
	Value   string
	Pattern string // the pattern of Value that matches the helper
	Module  string // the helper's module
}

func (e *SumDBError) Error() string {
	return fmt.Sprintf("%s%s=%s: pattern %q matches %s, so the helper module would be downloaded without the Go checksum database; "+
		"llbgen never skips that check: narrow %s to your own modules, or run llbgen lock without it and build from the lock, which then checks the module's hash",
		e.From, e.Var, e.Value, e.Pattern, e.Module, e.Var)
}

// CheckSumDB refuses env (PassThroughEnv values) when it would skip the
// checksum database for the helper's module, mod, unless locked: a lock's h1: hash
// is then the check. As in Go, GOPRIVATE counts only when GONOSUMDB is
// empty. GOSUMDB and GOFLAGS are never passed on, so they cannot skip it.
// Dependencies are not concerned: the download runs inside the helper
// module, whose go.sum checks them whatever GONOSUMDB says.
//
// It first refuses, whether locked or not, a GOPROXY whose credentials
// would leak (CheckProxy): every caller that checks the module settings
// before anything runs checks the proxy too.
func CheckSumDB(env map[string]string, mod string, locked bool, from string) error {
	if err := CheckProxy(env["GOPROXY"], from); err != nil {
		return err
	}
	if locked {
		return nil
	}
	name := "GONOSUMDB"
	if env[name] == "" {
		name = "GOPRIVATE"
	}
	if p := matchingPattern(env[name], mod); p != "" {
		return &SumDBError{From: from, Var: name, Value: env[name], Pattern: p, Module: mod}
	}
	return nil
}

// matchingPattern is the first pattern of a GONOSUMDB-style glob list that
// matches path or one of its prefixes, or "".
func matchingPattern(globs, path string) string {
	for _, g := range strings.Split(globs, ",") {
		if g = strings.TrimSpace(g); g != "" && module.MatchPrefixPatterns(g, path) {
			return g
		}
	}
	return ""
}
