package graph

import (
	"strings"
	"testing"
	"time"
)

func TestParseSourceDateEpoch(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64 // -1: unset
		err  bool
	}{
		{"", -1, false},
		{"0", 0, false},
		{"1700000000", 1700000000, false},
		{"9223372036", 9223372036, false},
		{"9223372037", 0, true}, // past 2262: nanoseconds overflow, times wrap to 1901
		{"-1", 0, true},
		{"1.5", 0, true},
		{"99999999999999999999", 0, true},
		{strings.Repeat("9", 10000), 0, true},
	} {
		got, err := ParseSourceDateEpoch("SOURCE_DATE_EPOCH", c.in)
		switch {
		case c.err:
			if err == nil || !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") || len(err.Error()) > 200 {
				t.Errorf("%.20q: err %v", c.in, err)
			}
		case err != nil:
			t.Errorf("%q: %v", c.in, err)
		case c.want < 0 && got != nil, c.want >= 0 && (got == nil || *got != c.want):
			t.Errorf("%q: got %v", c.in, got)
		}
	}
	if ts := time.Unix(MaxSourceDateEpoch, 0); ts.UnixNano() < 0 || ts.Year() != 2262 {
		t.Errorf("the largest epoch is %v, which file times do not hold", ts)
	}
}

func ptr[T any](v T) *T { return &v }
