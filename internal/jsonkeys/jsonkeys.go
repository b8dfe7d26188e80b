// Package jsonkeys guards the rewriting of JSON objects Docker decodes
// with Go's case-insensitive decoder (an image config, a config.json) from
// keys that differ only in case.
package jsonkeys

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
)

// Refuse refuses a JSON object two of whose keys differ only in case
// ("user", "User"). Go's decoder, Docker's, fills a field from the last of
// them in the document; an object rewritten as a map is sorted, so the
// one that wins could change. what names the object in the refusal.
// Anything but an object (null too) is left to the caller.
func Refuse(raw []byte, what string) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil
	}
	seen := map[string]string{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("reading %s: %w", what, err)
		}
		key, _ := tok.(string)
		folded := foldKey(key)
		if first, ok := seen[folded]; ok {
			return fmt.Errorf("%s has the keys %q and %q, which differ only in case: Docker reads the last, and llbgen will not rewrite such a config; fix the image", what, first, key)
		}
		seen[folded] = key
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return fmt.Errorf("reading %s: %w", what, err)
		}
	}
	if _, err := dec.Token(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading %s: %w", what, err)
	}
	return nil
}

// foldKey is s with each rune replaced by the least of its Unicode case
// folding orbit: two strings strings.EqualFold calls equal have one key
// ("ſ", "s" and "S" too).
func foldKey(s string) string {
	var b strings.Builder
	for _, r := range s {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}

// Take removes from m the key that equals key in any case (Refuse made
// sure there is at most one) and returns its value.
func Take(m map[string]json.RawMessage, key string) (json.RawMessage, bool) {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			delete(m, k)
			return v, true
		}
	}
	return nil, false
}
