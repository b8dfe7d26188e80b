package main

import "strings"

// isCobraUsage recognises cobra's own argument errors (unknown command,
// unexpected arguments), which are bad input like flag errors.
func isCobraUsage(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "unknown flag") ||
		strings.Contains(msg, "accepts 0 arg(s)") || strings.HasPrefix(msg, "unknown shorthand flag")
}
