package graph

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/llbgen/llbgen/pkg/targets"
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
		return nil, fmt.Errorf("%s %s: want whole seconds since 1970 from 0 to %d (%s), e.g. 1700000000",
			what, targets.Quote(v), MaxSourceDateEpoch, time.Unix(MaxSourceDateEpoch, 0).UTC().Format("2006-01-02"))
	}
	return &n, nil
}
