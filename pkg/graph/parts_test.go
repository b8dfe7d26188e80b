package graph

import (
	"slices"
	"testing"

	"github.com/containerd/platforms"
	digest "github.com/opencontainers/go-digest"
)

// What `llbgen build` solves in place of a delivery is what the delivery
// copies: its finished files (a static binary's compile, shared by the
// binaries of its helper and platform; a cgo binary's own finish stage)
// and its check, whose verdict alone the delivery takes. A binary passed
// on unverified has no check.
func TestFinishedAndChecksAreWhatDeliveryCopies(t *testing.T) {
	l := stageList(t)
	g := mustBuild(t, l, stageOptions())
	for _, bin := range l.Binaries() {
		f, ok := g.Finished[bin.Name]
		if !ok {
			t.Fatalf("%s has no finished files", bin.Name)
		}
		m := marshalAll(t, g.Delivered[bin.Name], f.State)
		fin := head(t, f.State)
		wantKind := KindStatic
		if bin.Cgo() {
			wantKind = KindFinish
		}
		if k := kindOf(m.ops[fin]); k != wantKind {
			t.Errorf("%s: finished files from %q, want %q", bin.Name, k, wantKind)
		}
		want := 1 // a cgo binary's finish stage is its own
		if !bin.Cgo() {
			want = 0 // the static binaries of its helper and platform
			for _, o := range l.Binaries() {
				if !o.Cgo() && o.Helper.FileName() == bin.Helper.FileName() && platforms.Format(g.b.platformOf(o)) == platforms.Format(g.b.platformOf(bin)) {
					want++
				}
			}
		}
		if f.Users != want {
			t.Errorf("%s: %d users, want %d", bin.Name, f.Users, want)
		}
		if want := "/" + g.b.helperOf(bin).binName(); f.Path != want {
			t.Errorf("%s: finished binary at %q, want %q", bin.Name, f.Path, want)
		}
		var inputs []digest.Digest
		for _, in := range m.ops[head(t, g.Delivered[bin.Name])].Inputs {
			inputs = append(inputs, digest.Digest(in.Digest))
		}
		if !slices.Contains(inputs, fin) {
			t.Errorf("%s: the delivery does not copy the finished files", bin.Name)
		}
		check, checked := g.Checks[bin.Name]
		_, unverified := g.Unverified[bin.Name]
		if checked == unverified {
			t.Errorf("%s: has a check %v, unverified %v", bin.Name, checked, unverified)
			continue
		}
		if !checked {
			continue
		}
		c := head(t, check)
		mc := marshalAll(t, check)
		if k := kindOf(mc.ops[c]); k != KindVerify {
			t.Errorf("%s: check is %q, want a verify stage", bin.Name, k)
		}
		if !slices.Contains(inputs, c) {
			t.Errorf("%s: the delivery does not take its verdict from the check", bin.Name)
		}
		// What a cache export holds of the check: its verdict alone,
		// copied by a file op marked as the binary's.
		v, ok := g.Verdict(bin.Name)
		if !ok {
			t.Fatalf("%s: a check and no verdict", bin.Name)
		}
		mv := marshalAll(t, v)
		vd := head(t, v)
		op := mv.ops[vd]
		acts := op.GetFile().GetActions()
		if len(acts) != 1 || acts[0].GetCopy().GetSrc() != VerdictFile || acts[0].GetCopy().GetDest() != VerdictFile ||
			len(op.Inputs) != 1 || digest.Digest(op.Inputs[0].Digest) != c {
			t.Errorf("%s: the verdict is %v, want one copy of %s from the check", bin.Name, op, VerdictFile)
		}
		if st := Stages(mv.def)[vd]; st.Kind != KindVerdict || !slices.Equal(st.Binaries, []string{bin.Name}) {
			t.Errorf("%s: the verdict is marked %+v", bin.Name, st)
		}
	}
	if len(g.Unverified) == 0 || len(g.Checks) == 0 {
		t.Fatalf("the list has %d unverified and %d checked binaries, want some of each", len(g.Unverified), len(g.Checks))
	}
}
