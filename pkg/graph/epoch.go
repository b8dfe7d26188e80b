package graph

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// MaxSourceDateEpoch is the latest SOURCE_DATE_EPOCH a file time holds:
// BuildKit and the kernel keep times in nanoseconds since 1970 in an int64,
// so later seconds wrap (to 1901) instead of failing.
const MaxSourceDateEpoch = math.MaxInt64 / int64(time.Second)

// ParseSourceDateEpoch reads a SOURCE_DATE_EPOCH value: nil for "" (unset),
// else whole seconds since 1970 from 0 (a legal date) to MaxSourceDateEpoch.
// what names where the value came from, for the error.
func ParseSourceDateEpoch(what, v string) (*int64, error) {
	if v == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > MaxSourceDateEpoch {
		shown := v
		if len(shown) > 40 {
			shown = shown[:40] + "..."
		}
		return nil, fmt.Errorf("%s %q: want whole seconds since 1970 from 0 to %d (%s), e.g. 1700000000",
			what, shown, MaxSourceDateEpoch, time.Unix(MaxSourceDateEpoch, 0).UTC().Format("2006-01-02"))
	}
	return &n, nil
}
