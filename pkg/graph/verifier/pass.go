package main

import (
	"errors"
	"flag"
	"fmt"
)

// runPass delivers a binary without running it, for a platform nothing
// here can run; the reason is printed, and llbgen reports the binary as
// not verified.
func runPass(args []string) error {
	fs := flag.NewFlagSet("pass", flag.ContinueOnError)
	target := fs.String("target", "", "target name, for messages")
	reason := fs.String("reason", "", "why the binary is not run")
	fs.String("want", "", "ignored: nothing is run")
	in := fs.String("in", "", "the binary")
	out := fs.String("out", "", "where to copy it")
	infoPath := fs.String("info", "", "the module proxy's .info file: the files are dated at the version's time")
	epoch := fs.Int64("epoch", 0, "SOURCE_DATE_EPOCH: date the files at this time instead")
	lockedTime := fs.String("time", "", "the locked version time (RFC 3339), used instead of INFO")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *target == "" || *reason == "" || *in == "" || *out == "" {
		return errors.New("pass needs -target, -reason, -in and -out")
	}
	if err := deliver(*in, *out, *infoPath, *lockedTime, *epoch); err != nil {
		return fmt.Errorf("target %s: %w", *target, err)
	}
	fmt.Printf("target %s: %s\n", *target, *reason)
	return nil
}
