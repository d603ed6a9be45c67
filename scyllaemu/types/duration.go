package types

import (
	"errors"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// Duration values are three signed vints, months, days and nanoseconds, each
// zig-zag encoded and then written as Cassandra's unsigned vint: the number
// of leading 1 bits of the first byte is the number of extra bytes that
// follow, the remaining bits of the first byte are the most significant
// bits of the value, big-endian.

// appendUvint appends v in Cassandra's unsigned vint encoding.
func appendUvint(dst []byte, v uint64) []byte {
	// Number of significant bits, at least 1.
	n := 64 - bits.LeadingZeros64(v|1)
	// 7 bits fit in one byte, each extra byte adds 7 bits (8 for the last).
	size := (n + 6) / 7
	if size > 9 {
		size = 9
	}
	if size == 1 {
		return append(dst, byte(v))
	}
	extra := size - 1
	var buf [9]byte
	for i := size - 1; i >= 0; i-- {
		buf[i] = byte(v)
		v >>= 8
	}
	buf[0] |= ^byte(0xff >> extra)
	return append(dst, buf[:size]...)
}

// readUvint decodes one unsigned vint from b and returns it with the number
// of bytes read, or n == 0 if b is truncated.
func readUvint(b []byte) (v uint64, n int) {
	if len(b) == 0 {
		return 0, 0
	}
	first := b[0]
	extra := bits.LeadingZeros8(^first)
	if len(b) < 1+extra {
		return 0, 0
	}
	v = uint64(first & (0xff >> extra))
	if extra == 8 {
		v = 0
	}
	for i := 1; i <= extra; i++ {
		v = v<<8 | uint64(b[i])
	}
	return v, 1 + extra
}

func zigzag(n int64) uint64   { return uint64(n<<1) ^ uint64(n>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// appendDuration appends the serialized duration.
func appendDuration(dst []byte, months, days int32, nanos int64) []byte {
	dst = appendUvint(dst, zigzag(int64(months)))
	dst = appendUvint(dst, zigzag(int64(days)))
	return appendUvint(dst, zigzag(nanos))
}

// decodeDuration decodes and checks a serialized duration the way ScyllaDB
// validates one: three vints and nothing else, months and days within 32
// bits, and all three components of the same sign.
func decodeDuration(v []byte) (months, days int32, nanos int64, err error) {
	if len(v) < 3 {
		return 0, 0, 0, errors.New("expected at least 3 bytes for a duration")
	}
	var c [3]int64
	off := 0
	for i := range c {
		u, n := readUvint(v[off:])
		if n == 0 {
			return 0, 0, 0, errors.New("truncated duration")
		}
		c[i] = unzigzag(u)
		off += n
	}
	if off != len(v) {
		return 0, 0, 0, errors.New("trailing bytes after duration")
	}
	if c[0] != int64(int32(c[0])) {
		return 0, 0, 0, errors.New("the duration months must be a 32 bit integer")
	}
	if c[1] != int64(int32(c[1])) {
		return 0, 0, 0, errors.New("the duration days must be a 32 bit integer")
	}
	if !((c[0] <= 0 && c[1] <= 0 && c[2] <= 0) || (c[0] >= 0 && c[1] >= 0 && c[2] >= 0)) {
		return 0, 0, 0, errors.New("the duration months, days, and nanoseconds must be all of the same sign")
	}
	return int32(c[0]), int32(c[1]), c[2], nil
}

// durationUnit is one unit of the duration literal syntax.
type durationUnit struct {
	index  int    // larger units have larger indices; units must decrease
	name   string // long name for error messages
	short  string // symbol used when formatting
	factor int64  // multiplier into the counter
	ctr    int    // 0 months, 1 days, 2 nanoseconds
}

// unitFor returns the unit of a lower-cased unit symbol.
func unitFor(sym string) (durationUnit, bool) {
	switch sym {
	case "y":
		return durationUnit{9, "years", "y", 12, 0}, true
	case "mo":
		return durationUnit{8, "months", "mo", 1, 0}, true
	case "w":
		return durationUnit{7, "weeks", "w", 7, 1}, true
	case "d":
		return durationUnit{6, "days", "d", 1, 1}, true
	case "h":
		return durationUnit{5, "hours", "h", 3600e9, 2}, true
	case "m":
		return durationUnit{4, "minutes", "m", 60e9, 2}, true
	case "s":
		return durationUnit{3, "seconds", "s", 1e9, 2}, true
	case "ms":
		return durationUnit{2, "milliseconds", "ms", 1e6, 2}, true
	case "us", "µs":
		return durationUnit{1, "microseconds", "us", 1e3, 2}, true
	case "ns":
		return durationUnit{0, "nanoseconds", "ns", 1, 2}, true
	}
	return durationUnit{}, false
}

// durationBuilder accumulates duration components with ScyllaDB's overflow
// and ordering checks.
type durationBuilder struct {
	c    [3]int64 // months, days, nanoseconds (non-negative while building)
	last int      // index of the last unit added, -1 before the first
}

func (b *durationBuilder) add(countText string, u durationUnit, checkOrder bool) error {
	count, err := strconv.ParseInt(countText, 10, 64)
	if err != nil {
		return errors.New("Invalid duration. The count for the " + u.name + " is out of range") //nolint:staticcheck
	}
	limit := int64(math.MaxInt64)
	if u.ctr < 2 {
		limit = math.MaxInt32
	}
	avail := (limit - b.c[u.ctr]) / u.factor
	if count > avail {
		return errors.New("Invalid duration. The number of " + u.name + " must be less than or equal to " + strconv.FormatInt(avail, 10)) //nolint:staticcheck
	}
	if checkOrder && b.last >= 0 {
		if u.index == b.last {
			return errors.New("Invalid duration. The " + u.name + " are specified multiple times") //nolint:staticcheck
		}
		if u.index > b.last {
			prev := unitByIndex(b.last)
			return errors.New("Invalid duration. The " + prev.name + " should be after " + u.name) //nolint:staticcheck
		}
	}
	b.last = u.index
	b.c[u.ctr] += count * u.factor
	return nil
}

func unitByIndex(i int) durationUnit {
	for _, s := range [...]string{"ns", "us", "ms", "s", "m", "h", "d", "w", "mo", "y"} {
		if u, _ := unitFor(s); u.index == i {
			return u
		}
	}
	return durationUnit{}
}

// parseDurationLiteral parses a CQL duration constant, in any of ScyllaDB's
// formats:
//
//   - standard: one or more <count><unit> with units y, mo, w, d, h, m, s,
//     ms, us (or µs), ns, case-insensitive, in strictly decreasing order:
//     "1h30m", "2d", "1y2mo", "500ms";
//   - ISO 8601: "P1Y2M3DT4H5M6S" (every part optional), "P2W";
//   - ISO 8601 alternative: "P0001-02-03T04:05:06";
//
// each optionally preceded by '-' for a negative duration.
func parseDurationLiteral(s string) (months, days int32, nanos int64, err error) {
	neg := strings.HasPrefix(s, "-")
	body := s
	if neg {
		body = s[1:]
	}
	var b durationBuilder
	b.last = -1
	ok := false
	switch {
	case body == "":
	case body[0] == 'P':
		switch {
		case strings.HasSuffix(body, "W"):
			ok, err = b.iso8601Week(body)
		case strings.Contains(body, "-"):
			ok, err = b.iso8601Alt(body)
		default:
			ok, err = b.iso8601(body)
		}
	default:
		ok, err = b.standard(body)
	}
	if err != nil {
		return 0, 0, 0, err
	}
	if !ok {
		return 0, 0, 0, errors.New("Unable to convert '" + s + "' to a duration") //nolint:staticcheck
	}
	m, d, n := b.c[0], b.c[1], b.c[2]
	if neg {
		m, d, n = -m, -d, -n
	}
	return int32(m), int32(d), n, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// digits returns the length of the run of ASCII digits at the start of s.
func digits(s string) int {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}

func (b *durationBuilder) standard(s string) (bool, error) {
	for len(s) > 0 {
		n := digits(s)
		if n == 0 {
			return false, nil
		}
		count := s[:n]
		s = s[n:]
		// Longest unit symbol first: "mo", "ms", "us", "µs", "ns" before "m".
		var sym string
		switch {
		case len(s) >= 3 && s[:2] == "µ" && (s[2] == 's' || s[2] == 'S'):
			sym = "µs"
			s = s[3:]
		case len(s) >= 2 && isTwoLetterUnit(strings.ToLower(s[:2])):
			sym = strings.ToLower(s[:2])
			s = s[2:]
		case len(s) >= 1:
			sym = strings.ToLower(s[:1])
			s = s[1:]
		default:
			return false, nil
		}
		u, ok := unitFor(sym)
		if !ok {
			return false, nil
		}
		if err := b.add(count, u, true); err != nil {
			return false, err
		}
	}
	return true, nil
}

func isTwoLetterUnit(s string) bool {
	return s == "mo" || s == "ms" || s == "us" || s == "ns"
}

// iso8601 parses P[nY][nM][nD][T[nH][nM][nS]].
func (b *durationBuilder) iso8601(s string) (bool, error) {
	s = s[1:] // 'P'
	parts := func(s string, syms string, units []string) (string, error) {
		for i := 0; i < len(syms); i++ {
			n := digits(s)
			if n == 0 || n >= len(s) || s[n] != syms[i] {
				continue
			}
			u, _ := unitFor(units[i])
			if err := b.add(s[:n], u, false); err != nil {
				return "", err
			}
			s = s[n+1:]
		}
		return s, nil
	}
	rest, err := parts(s, "YMD", []string{"y", "mo", "d"})
	if err != nil {
		return false, err
	}
	if rest == "" {
		return true, nil
	}
	if rest[0] != 'T' {
		return false, nil
	}
	rest, err = parts(rest[1:], "HMS", []string{"h", "m", "s"})
	if err != nil {
		return false, err
	}
	return rest == "", nil
}

// iso8601Week parses PnW.
func (b *durationBuilder) iso8601Week(s string) (bool, error) {
	body := s[1 : len(s)-1]
	if body == "" || digits(body) != len(body) {
		return false, nil
	}
	u, _ := unitFor("w")
	return true, b.add(body, u, false)
}

// iso8601Alt parses PYYYY-MM-DDThh:mm:ss.
func (b *durationBuilder) iso8601Alt(s string) (bool, error) {
	// P0001-02-03T04:05:06
	if len(s) != 20 || s[5] != '-' || s[8] != '-' || s[11] != 'T' || s[14] != ':' || s[17] != ':' {
		return false, nil
	}
	fields := [...]struct {
		text string
		unit string
	}{{s[1:5], "y"}, {s[6:8], "mo"}, {s[9:11], "d"}, {s[12:14], "h"}, {s[15:17], "m"}, {s[18:20], "s"}}
	for _, f := range fields {
		if digits(f.text) != len(f.text) {
			return false, nil
		}
	}
	for _, f := range fields {
		u, _ := unitFor(f.unit)
		if err := b.add(f.text, u, false); err != nil {
			return false, err
		}
	}
	return true, nil
}

// appendDurationText appends ScyllaDB's text form of a duration: a '-' if
// any component is negative, then the non-zero parts in decreasing units
// (y, mo, d, h, m, s, ms, us, ns), e.g. "1y2mo3d4h5m6s7ms8us9ns". A zero
// duration is written "0s" (ScyllaDB writes an empty string, which would not
// read back as a duration literal).
func appendDurationText(dst []byte, months, days int32, nanos int64) []byte {
	if months == 0 && days == 0 && nanos == 0 {
		return append(dst, "0s"...)
	}
	if months < 0 || days < 0 || nanos < 0 {
		dst = append(dst, '-')
	}
	abs := func(x int64) uint64 {
		if x < 0 {
			return uint64(-x) // also right for MinInt64
		}
		return uint64(x)
	}
	part := func(dst []byte, count uint64, div uint64, sym string) ([]byte, uint64) {
		if count == 0 || count < div {
			return dst, count
		}
		dst = strconv.AppendUint(dst, count/div, 10)
		dst = append(dst, sym...)
		return dst, count % div
	}
	m := abs(int64(months))
	dst, m = part(dst, m, 12, "y")
	dst, _ = part(dst, m, 1, "mo")
	dst, _ = part(dst, abs(int64(days)), 1, "d")
	n := abs(nanos)
	dst, n = part(dst, n, 3600e9, "h")
	dst, n = part(dst, n, 60e9, "m")
	dst, n = part(dst, n, 1e9, "s")
	dst, n = part(dst, n, 1e6, "ms")
	dst, n = part(dst, n, 1e3, "us")
	dst, _ = part(dst, n, 1, "ns")
	return dst
}
