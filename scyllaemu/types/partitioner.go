package types

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// Murmur3Token returns the token of a partition key under Cassandra's and
// ScyllaDB's Murmur3Partitioner: the first 64-bit half of MurmurHash3
// x64_128 with seed 0, in Cassandra's variant where the bytes of the final
// partial block are sign-extended before being mixed in. This is the hash
// gocql computes to route a statement (it must match for token-aware
// routing and for token() / CDC stream mapping).
//
// key is the serialized partition key as built by [PartitionKeyBytes]. As in
// ScyllaDB, a zero-length key has the minimum token math.MinInt64, and a
// hash equal to math.MinInt64 is normalized to math.MaxInt64 (MinInt64 is
// reserved for the minimum token).
func Murmur3Token(key []byte) int64 {
	if len(key) == 0 {
		return math.MinInt64
	}
	h := int64(murmur3H1(key))
	if h == math.MinInt64 {
		return math.MaxInt64
	}
	return h
}

const (
	murmurC1 = 0x87c37b91114253d5
	murmurC2 = 0x4cf5ad432745937f
)

func fmix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}

// murmur3H1 is the first half of Cassandra's MurmurHash3 x64_128 (seed 0).
func murmur3H1(data []byte) uint64 {
	var h1, h2 uint64
	n := len(data)
	nblocks := n / 16
	for i := 0; i < nblocks; i++ {
		k1 := binary.LittleEndian.Uint64(data[i*16:])
		k2 := binary.LittleEndian.Uint64(data[i*16+8:])

		k1 *= murmurC1
		k1 = bits.RotateLeft64(k1, 31)
		k1 *= murmurC2
		h1 ^= k1

		h1 = bits.RotateLeft64(h1, 27)
		h1 += h2
		h1 = h1*5 + 0x52dce729

		k2 *= murmurC2
		k2 = bits.RotateLeft64(k2, 33)
		k2 *= murmurC1
		h2 ^= k2

		h2 = bits.RotateLeft64(h2, 31)
		h2 += h1
		h2 = h2*5 + 0x38495ab5
	}

	tail := data[nblocks*16:]
	// Cassandra reads tail bytes as Java bytes: sign-extended.
	sx := func(b byte) uint64 { return uint64(int64(int8(b))) }
	var k1, k2 uint64
	switch len(tail) {
	case 15:
		k2 ^= sx(tail[14]) << 48
		fallthrough
	case 14:
		k2 ^= sx(tail[13]) << 40
		fallthrough
	case 13:
		k2 ^= sx(tail[12]) << 32
		fallthrough
	case 12:
		k2 ^= sx(tail[11]) << 24
		fallthrough
	case 11:
		k2 ^= sx(tail[10]) << 16
		fallthrough
	case 10:
		k2 ^= sx(tail[9]) << 8
		fallthrough
	case 9:
		k2 ^= sx(tail[8])
		k2 *= murmurC2
		k2 = bits.RotateLeft64(k2, 33)
		k2 *= murmurC1
		h2 ^= k2
		fallthrough
	case 8:
		k1 ^= sx(tail[7]) << 56
		fallthrough
	case 7:
		k1 ^= sx(tail[6]) << 48
		fallthrough
	case 6:
		k1 ^= sx(tail[5]) << 40
		fallthrough
	case 5:
		k1 ^= sx(tail[4]) << 32
		fallthrough
	case 4:
		k1 ^= sx(tail[3]) << 24
		fallthrough
	case 3:
		k1 ^= sx(tail[2]) << 16
		fallthrough
	case 2:
		k1 ^= sx(tail[1]) << 8
		fallthrough
	case 1:
		k1 ^= sx(tail[0])
		k1 *= murmurC1
		k1 = bits.RotateLeft64(k1, 31)
		k1 *= murmurC2
		h1 ^= k1
	}

	h1 ^= uint64(n)
	h2 ^= uint64(n)
	h1 += h2
	h2 += h1
	h1 = fmix64(h1)
	h2 = fmix64(h2)
	h1 += h2
	return h1
}

// PartitionKeyBytes returns the serialized partition key made of the given
// serialized partition-key column values, in partition-key order: for a
// single column, the value itself (not copied); for several, Cassandra's
// CompositeType encoding, each component as a big-endian uint16 length,
// the component's bytes and a 0x00 end-of-component byte.
// This is byte for byte what gocql builds as the routing key
// (createRoutingKey) and what [Murmur3Token] hashes.
//
// Components must not be NULL and must be at most 65535 bytes; ScyllaDB
// rejects longer key components, and callers must too (a longer component
// would have its length truncated to 16 bits, as gocql does).
func PartitionKeyBytes(components [][]byte) []byte {
	if len(components) == 1 {
		return components[0]
	}
	size := 0
	for _, c := range components {
		size += 3 + len(c)
	}
	b := make([]byte, 0, size)
	for _, c := range components {
		b = binary.BigEndian.AppendUint16(b, uint16(len(c)))
		b = append(b, c...)
		b = append(b, 0)
	}
	return b
}

// SplitPartitionKey is the inverse of [PartitionKeyBytes]: it splits a
// serialized partition key of n columns into the column values. For n == 1
// the result is key itself; for n > 1 the components alias key (capacity
// clipped). It fails on n < 1, on a truncated component, on a component
// not followed by the 0x00 end-of-component byte, on fewer or more than n
// components, and never panics.
func SplitPartitionKey(key []byte, n int) ([][]byte, error) {
	if n < 1 {
		return nil, fmt.Errorf("invalid partition key column count %d", n)
	}
	if n == 1 {
		return [][]byte{key}, nil
	}
	out := make([][]byte, 0, n)
	off := 0
	for off < len(key) {
		if len(out) == n {
			return nil, fmt.Errorf("composite partition key has more than %d components", n)
		}
		if len(key)-off < 2 {
			return nil, errors.New("truncated composite partition key")
		}
		l := int(binary.BigEndian.Uint16(key[off:]))
		off += 2
		if len(key)-off < l+1 {
			return nil, errors.New("truncated composite partition key")
		}
		out = append(out, key[off:off+l:off+l])
		off += l
		if key[off] != 0 {
			return nil, fmt.Errorf("composite partition key component %d has end-of-component byte 0x%02x, want 0x00", len(out)-1, key[off])
		}
		off++
	}
	if len(out) != n {
		return nil, fmt.Errorf("composite partition key has %d components, want %d", len(out), n)
	}
	return out, nil
}
