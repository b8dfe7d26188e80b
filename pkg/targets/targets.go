// Package targets is the list of images llbgen builds the ECR credential
// helper for: its types, its YAML form, and the checks that refuse a list
// before anything is built.
//
// A list reads:
//
//	helper:
//	  version: v0.12.0      # module version of HelperModule
//	go: golang:1.26         # optional toolchain image
//	targets:
//	  - image: docker:19.03.12
//	  - image: gitlab/gitlab-runner:v13.2.1
//	    name: gitlab-runner_v13.2.1   # optional, see DeriveName
package targets

import "fmt"

const (
	// HelperModule is the Go module whose binary is built for each target.
	HelperModule = "github.com/awslabs/amazon-ecr-credential-helper/ecr-login"
	// DefaultGoImage provides /usr/local/go when a list names no toolchain.
	DefaultGoImage = "golang:1.26"
	// DefaultHelperVersion is used only when no file supplies one (--image flags).
	DefaultHelperVersion = "v0.12.0"
	// BinaryPrefix starts every output file name; the target name ends it.
	BinaryPrefix = "docker-credential-ecr-login-"
)

// List is a parsed and validated target list.
type List struct {
	File    string   // path as given, used in messages
	Helper  Helper   // what to build
	Go      Image    // the toolchain image (DefaultGoImage when unset)
	Targets []Target // in file order
}

// Helper is the version of HelperModule to build.
type Helper struct {
	Version string // module version, like "v0.12.0"
	Pos     Pos
}

// Image is a Docker image reference.
type Image struct {
	Ref  string // as written, e.g. "docker:19.03.12"
	Full string // normalized: "docker.io/library/docker:19.03.12"
	Pos  Pos
}

// Target is one image to build the helper for.
type Target struct {
	Image Image
	Name  string // explicit, or derived by DeriveName
	Pos   Pos    // position of the list item

	namePos Pos // where an explicit name was written; zero when derived
}

// Pos is a place in a target list: file, 1-based line and column.
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// Bare is the version without its leading "v": "0.12.0".
func (h Helper) Bare() string {
	if len(h.Version) > 0 && h.Version[0] == 'v' {
		return h.Version[1:]
	}
	return h.Version
}

// FileName is the name of the binary built for t.
func (t Target) FileName() string { return BinaryPrefix + t.Name }
