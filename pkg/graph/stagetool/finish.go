package stagetool

import (
	"errors"
	"flag"
)

// runFinish copies a cgo binary out, with its build information beside it,
// both dated. It runs in the toolchain image, never in a target image: the
// files a delivered cgo binary is copied from are written by code llbgen
// trusts, not in the stage where the image's C compiler ran. It runs beside
// the binary's check; once that passed, the binary is copied from its output
// under its own name, by BuildKit itself (no process). A static compile,
// where no image code runs, finishes its binary itself (gobuild -buildinfo).
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
