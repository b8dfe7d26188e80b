package main

import (
	"errors"
	"flag"
)

// runFinish copies a compiled binary out, with its build information beside
// it, both dated. It runs in the toolchain image, never in a target image:
// the files every delivered binary is copied from are written by code llbgen
// trusts, not in a stage where an image's C compiler or loader ran. It runs
// once per compile (once per platform for every static binary), beside the
// binaries' checks; each binary that passed its check is then copied from
// its output under its own name, by BuildKit itself (no process).
func runFinish(args []string) error {
	fs := flag.NewFlagSet("finish", flag.ContinueOnError)
	in := fs.String("in", "", "the binary, as compiled")
	out := fs.String("out", "", "where to copy it")
	infoPath := fs.String("info", "", "the module proxy's .info file: the files are dated at the version's time")
	epoch := fs.Int64("epoch", -1, "SOURCE_DATE_EPOCH: date the files at this time instead (unset: -1)")
	lockedTime := fs.String("time", "", "the locked version time (RFC 3339), used instead of INFO")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" || *out == "" {
		return errors.New("finish needs -in and -out")
	}
	return deliver(*in, *out, *infoPath, *lockedTime, *epoch)
}
