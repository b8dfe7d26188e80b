package graph

import "os"

// EnvFromOS reads PassThroughEnv from llbgen's own environment.
func EnvFromOS() map[string]string {
	env := map[string]string{}
	for _, k := range PassThroughEnv {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	return env
}
