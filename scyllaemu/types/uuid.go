package types

import (
	"crypto/rand"
	"encoding/binary"
)

// uuidEpochOffset is the number of 100-ns ticks between the UUID epoch
// (1582-10-15 00:00:00 UTC, the Gregorian reform) and the Unix epoch.
const uuidEpochOffset = 0x01B21DD213814000

// timeUUID builds a version 1 UUID from a 60-bit tick count and the eight
// clock-sequence-and-node bytes, which are copied as is.
func timeUUID(ticks uint64, lsb [8]byte) []byte {
	u := make([]byte, 16)
	binary.BigEndian.PutUint32(u[0:], uint32(ticks))            // time_low
	binary.BigEndian.PutUint16(u[4:], uint16(ticks>>32))        // time_mid
	binary.BigEndian.PutUint16(u[6:], uint16(ticks>>48)&0x0fff) // time_hi
	u[6] |= 0x10                                                // version 1
	copy(u[8:], lsb[:])
	return u
}

// TimeUUIDFromMicros returns a version 1 UUID whose timestamp is exactly
// micros microseconds since the Unix epoch (micros×10 100-ns ticks after
// 1582-10-15). The clock sequence and node are rnd with the RFC 4122
// variant bits (10xxxxxx) forced into rnd[0]. Distinct rnd give distinct
// UUIDs for the same instant; ScyllaDB orders such UUIDs by rnd compared
// as signed bytes (see [Type.Compare]).
//
// The timestamp field has 60 bits: micros must lie in about
// [-12219292800000000, 103072857660684697] (years 1582 to 5236); values
// outside wrap around.
func TimeUUIDFromMicros(micros int64, rnd [8]byte) []byte {
	rnd[0] = rnd[0]&0x3f | 0x80
	return timeUUID(uint64(micros*10+uuidEpochOffset), rnd)
}

// TimeUUIDMicros returns the timestamp of the version 1 UUID v in
// microseconds since the Unix epoch, discarding sub-microsecond ticks
// (rounding towards negative infinity). It is the inverse of
// [TimeUUIDFromMicros]. The version nibble is not checked; v shorter than
// 16 bytes gives 0.
func TimeUUIDMicros(v []byte) int64 {
	if len(v) < 16 {
		return 0
	}
	ticks := int64(uuidTimestamp(v)) - uuidEpochOffset
	return floorDiv(ticks, 10)
}

// MinTimeUUID returns Cassandra's and ScyllaDB's minTimeuuid(ms): the
// version 1 UUID with the timestamp of ms milliseconds since the Unix epoch
// and clock sequence and node bytes all 0x80, the smallest possible under
// the timeuuid comparator's signed-byte order. Every timeuuid of that
// millisecond compares greater or equal.
func MinTimeUUID(ms int64) []byte {
	return timeUUID(uint64(ms*10000+uuidEpochOffset), [8]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80})
}

// MaxTimeUUID returns Cassandra's and ScyllaDB's maxTimeuuid(ms): the
// version 1 UUID with the last 100-ns tick of millisecond ms (ms×10000 +
// 9999) and clock sequence and node bytes all 0x7f, the largest possible
// under the timeuuid comparator's signed-byte order. Every timeuuid of that
// millisecond compares less or equal.
func MaxTimeUUID(ms int64) []byte {
	return timeUUID(uint64(ms*10000+9999+uuidEpochOffset), [8]byte{0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f})
}

// RandomUUID returns a new random (version 4, RFC 4122 variant) UUID from
// crypto/rand.
func RandomUUID() []byte {
	u := make([]byte, 16)
	_, _ = rand.Read(u) // never returns an error (Go 1.24+)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}
