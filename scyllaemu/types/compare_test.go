package types

import (
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"
)

// checkOrder checks Compare on every pair of values from groups, which are
// listed in ascending order; values within a group compare equal.
func checkOrder(t *testing.T, typ string, groups [][][]byte) {
	t.Helper()
	ty := MustParse(typ)
	for gi, g := range groups {
		for _, a := range g {
			for gj, g2 := range groups {
				for _, b := range g2 {
					want := sign(gi - gj)
					if got := ty.Compare(a, b); got != want {
						t.Errorf("%s: Compare(%x, %x) = %d, want %d", typ, a, b, got, want)
					}
				}
			}
		}
	}
}

// g makes a group of equal values.
func g(vs ...[]byte) [][]byte { return vs }

func TestCompareScalars(t *testing.T) {
	empty := []byte{}
	checkOrder(t, "tinyint", [][][]byte{g(empty, nil), g(i8(-128)), g(i8(-1)), g(i8(0)), g(i8(1)), g(i8(127))})
	checkOrder(t, "smallint", [][][]byte{g(empty), g(i16(math.MinInt16)), g(i16(-1)), g(i16(0)), g(i16(255)), g(i16(256)), g(i16(math.MaxInt16))})
	checkOrder(t, "int", [][][]byte{g(empty), g(i32(math.MinInt32)), g(i32(-256)), g(i32(-1)), g(i32(0)), g(i32(1)), g(i32(math.MaxInt32))})
	for _, typ := range []string{"bigint", "timestamp"} {
		checkOrder(t, typ, [][][]byte{g(empty), g(i64(math.MinInt64)), g(i64(-1)), g(i64(0)), g(i64(1)), g(i64(math.MaxInt64))})
	}
	checkOrder(t, "time", [][][]byte{g(empty), g(i64(0)), g(i64(1)), g(i64(1 << 40)), g(i64(MaxTime))})
	// Counters: an empty counter reads as 0 (ScyllaDB).
	checkOrder(t, "counter", [][][]byte{g(i64(math.MinInt64)), g(i64(-1)), g(empty, i64(0)), g(i64(1))})
	// Dates are unsigned: 2^31 is the epoch, 0 is the earliest date.
	checkOrder(t, "date", [][][]byte{g(empty), g(u32(0)), g(u32(1<<31 - 1)), g(u32(1 << 31)), g(u32(1<<31 + 1)), g(u32(math.MaxUint32))})
	checkOrder(t, "boolean", [][][]byte{g(empty), g([]byte{0}), g([]byte{1}, []byte{2}, []byte{0xff})})

	checkOrder(t, "float", [][][]byte{
		g(empty),
		g(f32(float32(math.Inf(-1)))),
		g(f32(-math.MaxFloat32)),
		g(f32(-1)),
		g(f32(-math.SmallestNonzeroFloat32)),
		g(f32(float32(math.Copysign(0, -1)))),
		g(f32(0)),
		g(f32(math.SmallestNonzeroFloat32)),
		g(f32(1)),
		g(f32(math.MaxFloat32)),
		g(f32(float32(math.Inf(1)))),
		g(u32(0x7fc00000), u32(0x7fc00001), u32(0xffc00000)), // every NaN is equal, and largest
	})
	checkOrder(t, "double", [][][]byte{
		g(empty),
		g(f64(math.Inf(-1))),
		g(f64(-math.MaxFloat64)),
		g(f64(-1.5)),
		g(f64(-math.SmallestNonzeroFloat64)),
		g(f64(math.Copysign(0, -1))),
		g(f64(0)),
		g(f64(math.SmallestNonzeroFloat64)),
		g(f64(1.5)),
		g(f64(math.MaxFloat64)),
		g(f64(math.Inf(1))),
		g(f64(math.NaN()), h("7ff8000000000000"), h("fff8000000000001")),
	})

	// Varints compare by value whatever their (possibly non-minimal) length.
	checkOrder(t, "varint", [][][]byte{
		g(empty),
		g(h("ff000000000000000000")), // -2^72
		g(h("ff7f"), h("ffff7f")),    // -129
		g(h("80"), h("ff80")),        // -128
		g(h("ff"), h("ffff"), h("ffffffffffffffffffff")),
		g(h("00"), h("0000"), h("00000000000000000000")),
		g(h("01"), h("0001"), h("0000000000000000000001")),
		g(h("7f")),
		g(h("0080"), h("000080")),
		g(h("0100")),
		g(h("01000000000000000000")), // 2^72
	})

	// Decimals compare by value: 1 == 1.00, and adversarial scales work.
	checkOrder(t, "decimal", [][][]byte{
		g(empty),
		g(dec(math.MinInt32, h("ff"))), // -1E+2147483648
		g(dec(-3, h("ff")), dec(0, h("fc18")), dec(1, h("d8f0"))), // -1000
		g(dec(1, h("f1"))), // -1.5
		g(dec(7, h("ff"))), // -1E-7
		g(dec(0, h("00")), dec(5, h("00")), dec(-5, h("0000")), i32(9)), // zeros, and the 4-byte form
		g(dec(math.MaxInt32, h("01"))),                                  // 1E-2147483647
		g(dec(math.MaxInt32, h("0a")), dec(math.MaxInt32-1, h("01"))),   // 1E-2147483646
		g(dec(2, h("01"))), // 0.01
		g(dec(0, h("01")), dec(2, h("64")), dec(-0, h("0001"))), // 1
		g(dec(1, h("0f")), dec(3, h("05dc"))),                   // 1.5
		g(dec(-3, h("01")), dec(0, h("03e8"))),                  // 1000
		g(dec(0, h("0100000000000000000000"))),                  // 2^80
		g(dec(math.MinInt32, h("01"))),                          // 1E+2147483648
	})

	for _, typ := range []string{"text", "ascii", "blob"} {
		checkOrder(t, typ, [][][]byte{g(empty, nil), g([]byte("A")), g([]byte("a")), g([]byte("ab")), g([]byte("b")), g([]byte{0x7f})})
	}
	checkOrder(t, "text", [][][]byte{g([]byte("z")), g([]byte("é")), g([]byte("☕"))}) // UTF-8 byte order
	checkOrder(t, "blob", [][][]byte{g(empty), g(h("00")), g(h("0000")), g(h("01")), g(h("ff"))})
	checkOrder(t, "inet", [][][]byte{g(empty), g(h("00000000000000000000000000000001")), g(h("01020304")), g(h("0102030400")), g(h("ff000000"))})
	checkOrder(t, "duration", [][][]byte{g(empty), g(h("000000")), g(h("000002")), g(h("00010000")), g(h("020000"))})
}

func TestCompareTimeuuid(t *testing.T) {
	lsb := func(b byte) [8]byte { return [8]byte{b, b, b, b, b, b, b, b} }
	// The timestamp is compared as a 60-bit number: time_hi, then time_mid,
	// then time_low, even though time_low comes first in the bytes.
	tLowBig := timeUUID(0x0000_0001_FFFF_FFFF, lsb(0))
	tMidNext := timeUUID(0x0000_0002_0000_0000, lsb(0))
	tHiNext := timeUUID(0x0001_0000_0000_0000, lsb(0))
	checkOrder(t, "timeuuid", [][][]byte{
		g([]byte{}),
		g(timeUUID(1, lsb(0x80))), // smallest lsb under signed order
		g(timeUUID(1, lsb(0xff))), // -1
		g(timeUUID(1, lsb(0x00))),
		g(timeUUID(1, lsb(0x7f))), // largest
		g(timeUUID(2, lsb(0x80))),
		g(tLowBig),
		g(tMidNext),
		g(tHiNext),
	})
	// Signed bytes at every position 8..15, not only the first.
	a := timeUUID(5, [8]byte{0, 0, 0, 0, 0, 0, 0, 0x7f})
	b := timeUUID(5, [8]byte{0, 0, 0, 0, 0, 0, 0, 0x80})
	if MustParse("timeuuid").Compare(a, b) != 1 {
		t.Error("timeuuid lsb must compare as signed bytes")
	}
	// The uuid type compares the same two version-1 UUIDs with unsigned
	// lsb bytes (ScyllaDB's uuid_tri_compare_timeuuid).
	if MustParse("uuid").Compare(a, b) != -1 {
		t.Error("uuid lsb of version-1 UUIDs must compare as unsigned bytes")
	}

	// MinTimeUUID/MaxTimeUUID bound every timeuuid of their millisecond.
	ty := MustParse("timeuuid")
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		ms := r.Int64N(4e12) - 1e12
		var rnd [8]byte
		for j := range rnd {
			rnd[j] = byte(r.Uint32())
		}
		u := TimeUUIDFromMicros(ms*1000+r.Int64N(1000), rnd)
		lo, hi := MinTimeUUID(ms), MaxTimeUUID(ms)
		if ty.Compare(lo, u) > 0 || ty.Compare(u, hi) > 0 {
			t.Fatalf("%x not within [%x, %x]", u, lo, hi)
		}
		if ty.Compare(MaxTimeUUID(ms-1), u) >= 0 || ty.Compare(u, MinTimeUUID(ms+1)) >= 0 {
			t.Fatalf("%x not within the neighbouring bounds", u)
		}
		if ty.Compare(MinTimeUUID(ms), MaxTimeUUID(ms)) >= 0 {
			t.Fatal("MinTimeUUID >= MaxTimeUUID")
		}
	}

	// Sorting timeuuids generated with increasing micros keeps them in
	// time order whatever their random parts.
	var us [][]byte
	for i := int64(0); i < 500; i++ {
		var rnd [8]byte
		for j := range rnd {
			rnd[j] = byte(r.Uint32())
		}
		us = append(us, TimeUUIDFromMicros(1_700_000_000_000_000+i*37, rnd))
	}
	shuffled := slices.Clone(us)
	r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	slices.SortFunc(shuffled, ty.Compare)
	for i := range us {
		if string(us[i]) != string(shuffled[i]) {
			t.Fatalf("sorted timeuuids out of time order at %d", i)
		}
	}
}

func TestCompareUUID(t *testing.T) {
	lsb := func(b byte) [8]byte { return [8]byte{b, b, b, b, b, b, b, b} }
	checkOrder(t, "uuid", [][][]byte{
		g([]byte{}),
		g(h("00000000-0000-0000-0000-000000000000")), // version 0 first
		g(h("ffffffff-ffff-0fff-ffff-ffffffffffff")),
		g(timeUUID(1, lsb(0x00))), // version 1: timestamp, then unsigned lsb
		g(timeUUID(1, lsb(0x7f))),
		g(timeUUID(1, lsb(0x80))),
		g(timeUUID(0x0000_0001_FFFF_FFFF, lsb(0))),
		g(timeUUID(0x0000_0002_0000_0000, lsb(0))),
		g(h("00000000-0000-2000-0000-000000000000")), // version 2
		g(h("00000000-0000-4000-8000-000000000000")), // version 4: bytewise
		g(h("00000000-0000-4000-8000-000000000001")),
		g(h("10000000-0000-4000-8000-000000000000")),
		g(h("00000000-0000-f000-0000-000000000000")),
	})
}

func TestCompareCollections(t *testing.T) {
	empty := []byte{}
	checkOrder(t, "frozen<list<int>>", [][][]byte{
		g(empty),
		g(coll()),
		g(coll(nil)), // a NULL element sorts before any value
		g(coll(empty)),
		g(coll(i32(-1))),
		g(coll(i32(-1), i32(5))),
		g(coll(i32(0))),
		g(coll(i32(0), i32(0))),
		g(coll(i32(0), i32(1))),
		g(coll(i32(1))),
	})
	checkOrder(t, "frozen<set<text>>", [][][]byte{
		g(empty), g(coll()), g(coll([]byte("a"))), g(coll([]byte("a"), []byte("b"))), g(coll([]byte("b"))),
	})
	checkOrder(t, "frozen<map<int, text>>", [][][]byte{
		g(empty),
		g(mapv()),
		g(mapv(i32(-5), []byte("z"))),
		g(mapv(i32(1), []byte("a"))),
		g(mapv(i32(1), []byte("a"), i32(2), []byte("a"))),
		g(mapv(i32(1), []byte("b"))),
		g(mapv(i32(2), []byte(""))),
	})
	// Element comparator is used (int -1 < 1 although 0xff... > 0x00...).
	checkOrder(t, "frozen<list<frozen<set<int>>>>", [][][]byte{
		g(coll(coll(i32(-1)))), g(coll(coll(i32(1)))), g(coll(coll(i32(1)), coll())),
	})
	// Varint elements equal by value make equal lists.
	checkOrder(t, "frozen<list<varint>>", [][][]byte{g(coll(h("ff"))), g(coll(h("01")), coll(h("0001")))})
}

func TestCompareTuple(t *testing.T) {
	P := func(e ...[]byte) []byte { return PackTuple(e) }
	empty := []byte{}
	checkOrder(t, "tuple<int, text>", [][][]byte{
		g(empty, P(nil), P(nil, nil)), // missing and NULL trailing components are equal
		g(P(nil, empty)),
		g(P(nil, []byte("a"))),
		g(P(empty), P(empty, nil)),
		g(P(empty, []byte("a"))),
		g(P(i32(-1)), P(i32(-1), nil)),
		g(P(i32(-1), []byte("a"))),
		g(P(i32(0), empty)),
		g(P(i32(5))),
	})
}

func TestCompareMalformedNoPanic(t *testing.T) {
	types := []string{"int", "bigint", "tinyint", "smallint", "boolean", "float", "double", "date", "time", "timestamp",
		"uuid", "timeuuid", "decimal", "varint", "counter", "frozen<list<int>>", "frozen<map<int, int>>", "tuple<int, text>"}
	vals := [][]byte{nil, {}, {1}, {1, 2, 3}, {0xff, 0xff, 0xff, 0xff, 0xff}, i32(1), i32(-1), i64(1), coll(i32(1))[:6], append(i32(3), 0, 0, 0, 1)}
	for _, typ := range types {
		ty := MustParse(typ)
		for _, a := range vals {
			for _, b := range vals {
				c1, c2 := ty.Compare(a, b), ty.Compare(b, a)
				if c1 != -c2 {
					t.Errorf("%s: Compare(%x, %x) = %d but reverse = %d", typ, a, b, c1, c2)
				}
			}
		}
	}
	// Malformed types fall back to bytewise order.
	for _, ty := range []*Type{nil, {Kind: List}, {Kind: Map}, {Kind: Tuple}, {Kind: Kind(0x99)}} {
		if ty.Compare([]byte{1}, []byte{2}) != -1 {
			t.Errorf("%v: malformed type should compare bytewise", ty)
		}
	}
}

func TestCompareNoAllocs(t *testing.T) {
	cases := []struct {
		typ  string
		a, b []byte
	}{
		{"int", i32(-5), i32(7)},
		{"bigint", i64(-5), i64(7)},
		{"text", []byte("abc"), []byte("abd")},
		{"timeuuid", MinTimeUUID(5), MaxTimeUUID(5)},
		{"uuid", timeUUID(5, [8]byte{}), timeUUID(5, [8]byte{1})},
		{"double", f64(1.5), f64(math.NaN())},
		{"varint", h("ff7f"), h("0080")},
		{"decimal", dec(2, h("96")), dec(2, h("97"))},
		{"date", u32(5), u32(6)},
		{"frozen<list<int>>", coll(i32(1), i32(2)), coll(i32(1), i32(3))},
		{"tuple<int, text>", PackTuple([][]byte{i32(1), []byte("a")}), PackTuple([][]byte{i32(1), []byte("b")})},
	}
	for _, c := range cases {
		ty := MustParse(c.typ)
		if n := testing.AllocsPerRun(100, func() {
			if ty.Compare(c.a, c.b) != -1 {
				t.Fatalf("%s: Compare(%x, %x) != -1", c.typ, c.a, c.b)
			}
		}); n != 0 {
			t.Errorf("%s.Compare allocates %v times", c.typ, n)
		}
	}
}

func BenchmarkCompare(b *testing.B) {
	for _, c := range []struct {
		name, typ string
		a, v      []byte
	}{
		{"int", "int", i32(1), i32(2)},
		{"bigint", "bigint", i64(1), i64(2)},
		{"text", "text", []byte("some-partition-key-1"), []byte("some-partition-key-2")},
		{"timeuuid", "timeuuid", MinTimeUUID(1), MaxTimeUUID(1)},
	} {
		ty := MustParse(c.typ)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ty.Compare(c.a, c.v)
			}
		})
	}
}

func BenchmarkValidate(b *testing.B) {
	for _, c := range []struct {
		name, typ string
		v         []byte
	}{
		{"int", "int", i32(1)},
		{"text", "text", []byte("some moderately long text value ☕ with utf-8")},
		{"timeuuid", "timeuuid", MinTimeUUID(1)},
		{"map", "map<text, text>", mapv([]byte("k1"), []byte("v1"), []byte("k2"), []byte("v2"))},
	} {
		ty := MustParse(c.typ)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = ty.Validate(c.v)
			}
		})
	}
}

// Varint and decimal comparison agree with math/big on random values,
// including non-minimal encodings and decimals of different scales.
func TestCompareNumericAgainstBig(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	randVarint := func() []byte {
		b := make([]byte, 1+r.IntN(12))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if r.IntN(4) == 0 { // small magnitudes collide more often
			b = b[len(b)-1:]
		}
		if r.IntN(4) == 0 { // non-minimal sign extension
			pad := byte(0)
			if b[0]&0x80 != 0 {
				pad = 0xff
			}
			b = append([]byte{pad, pad}, b...)
		}
		return b
	}
	vt, dt := MustParse("varint"), MustParse("decimal")
	for i := 0; i < 20000; i++ {
		a, b := randVarint(), randVarint()
		if got, want := vt.Compare(a, b), VarintInt(a).Cmp(VarintInt(b)); got != want {
			t.Fatalf("varint Compare(%x, %x) = %d, want %d", a, b, got, want)
		}
		sa, sb := int32(r.IntN(41)-20), int32(r.IntN(41)-20)
		if r.IntN(3) == 0 {
			sb = sa
		}
		da, db := dec(sa, a), dec(sb, b)
		ra := new(big.Rat).SetFrac(VarintInt(a), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(max(sa, 0))), nil))
		ra.Mul(ra, new(big.Rat).SetFrac(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(max(-sa, 0))), nil), big.NewInt(1)))
		rb := new(big.Rat).SetFrac(VarintInt(b), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(max(sb, 0))), nil))
		rb.Mul(rb, new(big.Rat).SetFrac(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(max(-sb, 0))), nil), big.NewInt(1)))
		if got, want := dt.Compare(da, db), ra.Cmp(rb); got != want {
			t.Fatalf("decimal Compare(%x, %x) = %d, want %d", da, db, got, want)
		}
		// Format is exact: the text parses back to an equal decimal.
		back, err := dt.FromLiteral(LitFloat, dt.Format(da))
		if err != nil || dt.Compare(back, da) != 0 {
			t.Fatalf("decimal %x formats as %q which reads back as %x, %v", da, dt.Format(da), back, err)
		}
		back, err = vt.FromLiteral(LitInteger, vt.Format(a))
		if err != nil || vt.Compare(back, a) != 0 {
			t.Fatalf("varint %x formats as %q which reads back as %x, %v", a, vt.Format(a), back, err)
		}
	}
}
