package jsonkeys

import (
	"strings"
	"testing"
)

// Keys that differ only in case are refused, whatever their order or
// depth of folding; an object without such keys, and what is no object,
// pass.
func TestRefuse(t *testing.T) {
	for _, bad := range []string{
		`{"user":"root","User":"nobody"}`,
		`{"User":"nobody","user":"root"}`,
		`{"Labelſ":{},"Labels":{}}`,
		`{"a":1,"ENV":[],"b":2,"env":[]}`,
	} {
		if err := Refuse([]byte(bad), "x"); err == nil || !strings.Contains(err.Error(), "differ only in case") {
			t.Errorf("%s: %v", bad, err)
		}
	}
	for _, good := range []string{`{"User":"a","Env":[],"Labels":{"l":"1","L":"2"}}`, `null`, `[]`, `"x"`, `{}`} {
		if err := Refuse([]byte(good), "x"); err != nil {
			t.Errorf("%s: %v", good, err)
		}
	}
	if foldKey("Labelſ") != foldKey("LABELS") || foldKey("a") == foldKey("b") {
		t.Error("foldKey")
	}
}
