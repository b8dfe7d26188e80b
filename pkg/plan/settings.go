package plan

import (
	"fmt"

	"github.com/llbgen/llbgen/pkg/graph"
	"github.com/llbgen/llbgen/pkg/lock"
)

// moduleEnv takes the module settings from the input's environment or
// build arguments and refuses those that would leak the proxy's
// credentials or skip the Go checksum database for the helper module,
// unless lk pins its hash: then the lock is the check.
func moduleEnv(in Input, lk *lock.File) (map[string]string, error) {
	env := map[string]string{}
	for _, k := range graph.PassThroughEnv {
		if v, ok := in.Env[k]; ok {
			env[k] = v
		}
	}
	if err := graph.CheckProxy(env["GOPROXY"], in.From); err != nil {
		return nil, badInput(err)
	}
	if v := env["GOPROXY"]; in.ProxySecret && graph.ProxyHasCredentials(v) {
		return nil, badInput(fmt.Errorf("%sGOPROXY=%s carries credentials, and build arguments are recorded in the build's history and provenance; "+
			"pass GOPROXY as a secret instead and leave the build argument unset: docker-bake.hcl reads it from the environment (secret = [\"id=%s,env=GOPROXY\"]), "+
			"docker buildx build takes --secret id=%s,env=GOPROXY", in.From, graph.RedactProxy(v), graph.ProxySecretID, graph.ProxySecretID))
	}
	for _, h := range in.List.Helpers {
		if err := graph.CheckSumDB(env, h.Spec().Module, lk != nil && lk.Locked(h), in.From); err != nil {
			return nil, badInput(err)
		}
	}
	return env, nil
}
