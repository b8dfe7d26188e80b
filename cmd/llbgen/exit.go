package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/llbgen/llbgen/pkg/plan"
	"github.com/llbgen/llbgen/pkg/targets"
)

// Exit statuses: bad input (a flag, the target list, its lock, the
// environment, a go: image without a toolchain) is 2 and nothing is
// written; a failed build is 1.
const (
	exitOK       = 0
	exitFailed   = 1
	exitBadInput = 2
)

// usageError marks an error in what the user asked for.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// exitCode prints err (if any) and says how the process should end.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var list targets.ErrorList
	var one *targets.Error
	var usage usageError
	var refused *plan.Error
	switch {
	case errors.As(err, &list), errors.As(err, &one):
		fmt.Fprintln(stderr, err)
		return exitBadInput
	case errors.As(err, &refused) && refused.BadInput && refused.Pos.Line > 0:
		fmt.Fprintln(stderr, err) // positioned, as a list refusal
		return exitBadInput
	case errors.As(err, &usage), errors.As(err, &refused) && refused.BadInput:
		fmt.Fprintf(stderr, "llbgen: %v\n", err)
		return exitBadInput
	}
	var failed errTargetsFailed
	if errors.As(err, &failed) {
		if failed.what != "" {
			fmt.Fprintf(stderr, "llbgen: %v\n", err)
		}
		return exitFailed // the summary has said why
	}
	fmt.Fprintf(stderr, "llbgen: %v\n", err)
	return exitFailed
}

// badInput reports whether err is bad input, which exits 2 and writes
// nothing (the metadata file neither).
func badInput(err error) bool {
	var list targets.ErrorList
	var one *targets.Error
	var usage usageError
	var refused *plan.Error
	return errors.As(err, &list) || errors.As(err, &one) || errors.As(err, &usage) || errors.As(err, &refused) && refused.BadInput
}
