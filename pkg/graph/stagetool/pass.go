package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
)

// runDeliver copies a binary out, with its build information, dated. It
// runs in the toolchain image, never in a target image: what lands in the
// export is read from the compile's output by code llbgen trusts, not from
// a stage where the image's loader ran.
//
// Mode "deliver" follows a check: -verdict names the verdict the check
// wrote, which must say "verified". Mode "pass" delivers a binary without
// running it, for a platform nothing here can run; -reason says why, and
// llbgen reports the binary as not verified.
func runDeliver(mode string, args []string) error {
	fs := flag.NewFlagSet(mode, flag.ContinueOnError)
	target := fs.String("target", "", "target name, for messages")
	reason := fs.String("reason", "", "pass: why the binary is not run")
	verdict := fs.String("verdict", "", "deliver: the verdict file the check wrote")
	fs.String("want", "", "ignored: nothing is run")
	in := fs.String("in", "", "the binary")
	out := fs.String("out", "", "where to copy it")
	infoPath := fs.String("info", "", "the module proxy's .info file: the files are dated at the version's time")
	epoch := fs.Int64("epoch", -1, "SOURCE_DATE_EPOCH: date the files at this time instead (unset: -1)")
	lockedTime := fs.String("time", "", "the locked version time (RFC 3339), used instead of INFO")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *target == "" || *in == "" || *out == "" {
		return fmt.Errorf("%s needs -target, -in and -out", mode)
	}
	var said string
	switch mode {
	case "pass":
		if *reason == "" {
			return errors.New("pass needs -reason")
		}
		said = *reason
	default:
		if *verdict == "" {
			return errors.New("deliver needs -verdict")
		}
		// The verdict comes from a stage where the image's loader ran: read
		// it as a small regular file, never through a link or a FIFO.
		v, err := readRegular(*verdict, 64<<10)
		if err != nil || !strings.HasPrefix(string(v), verdictOK) {
			return fmt.Errorf("target %s: no verdict from the check (%v)", *target, err)
		}
		said = "delivered after its check in its image"
	}
	if err := deliver(*in, *out, *infoPath, *lockedTime, *epoch); err != nil {
		return fmt.Errorf("target %s: %w", *target, err)
	}
	fmt.Printf("target %s: %s\n", *target, said)
	return nil
}
