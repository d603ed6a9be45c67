package bench

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"time"
)

// Duration is a time.Duration that JSON renders as a number of
// milliseconds (fields carry a "_ms" suffix), so the report is easy to
// read from any language.
type Duration time.Duration

// MarshalJSON renders milliseconds with microsecond resolution.
func (d Duration) MarshalJSON() ([]byte, error) {
	ms := float64(d) / float64(time.Millisecond)
	return strconv.AppendFloat(nil, math.Round(ms*1000)/1000, 'f', -1, 64), nil
}

// UnmarshalJSON reads milliseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var ms float64
	if err := json.Unmarshal(b, &ms); err != nil {
		return err
	}
	*d = Duration(ms * float64(time.Millisecond))
	return nil
}

// String is time.Duration's, rounded for tables.
func (d Duration) String() string { return roundDur(time.Duration(d)).String() }

// roundDur keeps three significant figures or so: 1.23ms, 45.6ms, 789ms,
// 1.23s.
func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	default:
		return d.Round(10 * time.Microsecond)
	}
}

// latencySummary holds nearest-rank percentiles of a sorted sample.
type latencySummary struct {
	n                       int
	min, p50, p95, p99, max time.Duration
	mean                    time.Duration
}

// summarize sorts lat in place and takes nearest-rank percentiles: the
// p-th percentile is the smallest value with at least p% of the sample at
// or below it. With every sample kept this is exact, which an HDR
// histogram only approximates.
func summarize(lat []time.Duration) latencySummary {
	s := latencySummary{n: len(lat)}
	if len(lat) == 0 {
		return s
	}
	slices.Sort(lat)
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	s.min, s.max, s.mean = lat[0], lat[len(lat)-1], sum/time.Duration(len(lat))
	s.p50, s.p95, s.p99 = percentile(lat, 50), percentile(lat, 95), percentile(lat, 99)
	return s
}

// percentile is the nearest-rank percentile of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}
