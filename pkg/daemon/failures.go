package daemon

import digest "github.com/opencontainers/go-digest"

// Failure is one cause of failure and every binary it failed.
type Failure struct {
	Cause    string
	Binaries []string // binary names, in list order
}

// Failures are the causes of the binaries not written, in list order, one
// per failing vertex: a vertex several binaries share (the download, a
// static compile, an image pulled for two targets, a cgo setup two
// targets of one image share) is one Failure naming each binary it
// failed, whatever its kind. Failures without a known vertex (the plan's
// refusals: an image that did not resolve refuses every target that
// names it) are one per cause.
func (o *Outcome) Failures() []Failure {
	var failed []failedBinary
	for _, r := range o.Results {
		if !r.Written() {
			failed = append(failed, failedBinary{r.Binary.Name, r.Vertex, r.Cause})
		}
	}
	return grouped(failed)
}

// Unbuilt are the causes of the rows whose binary was not built, grouped
// as Outcome.Failures groups a build's.
func (m *Matrix) Unbuilt() []Failure {
	var failed []failedBinary
	for _, r := range m.Rows {
		if r.Cells == nil {
			failed = append(failed, failedBinary{r.Binary.Name, r.Vertex, r.Cause})
		}
	}
	return grouped(failed)
}

// failedBinary is a binary that failed, the vertex that failed it (if
// known) and the cause.
type failedBinary struct {
	name   string
	vertex digest.Digest
	cause  string
}

// grouped gives each cause once, in order, with every binary it failed:
// by failing vertex and cause (the output directory may add to one
// binary's, a name it would not replace), or by cause alone when no
// vertex is known.
func grouped(failed []failedBinary) []Failure {
	var out []Failure
	at := map[failedBinary]int{}
	for _, f := range failed {
		key := failedBinary{vertex: f.vertex, cause: f.cause}
		if i, ok := at[key]; ok {
			out[i].Binaries = append(out[i].Binaries, f.name)
			continue
		}
		at[key] = len(out)
		out = append(out, Failure{Cause: f.cause, Binaries: []string{f.name}})
	}
	return out
}
