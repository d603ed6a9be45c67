package types

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"
)

func TestTimeUUIDFromMicros(t *testing.T) {
	// Expected values computed independently with Python's uuid module.
	u := TimeUUIDFromMicros(1692199496000000, [8]byte{0x00, 1, 2, 3, 4, 5, 6, 7})
	if got := MustParse("timeuuid").Format(u); got != "0dfc9400-3c49-11ee-8001-020304050607" {
		t.Errorf("TimeUUIDFromMicros = %s", got)
	}
	if u[6]>>4 != 1 || u[8]&0xc0 != 0x80 {
		t.Errorf("version/variant bits wrong: %x", u)
	}
	if err := MustParse("timeuuid").Validate(u); err != nil {
		t.Error(err)
	}

	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 10000; i++ {
		// The 60-bit timestamp spans 1582..5236.
		micros := r.Int64N(100_000_000_000_000_000) - 12_219_292_800_000_000
		var rnd [8]byte
		for j := range rnd {
			rnd[j] = byte(r.Uint32())
		}
		u := TimeUUIDFromMicros(micros, rnd)
		if got := TimeUUIDMicros(u); got != micros {
			t.Fatalf("TimeUUIDMicros(TimeUUIDFromMicros(%d)) = %d", micros, got)
		}
		want := rnd
		want[0] = want[0]&0x3f | 0x80
		if !bytes.Equal(u[8:], want[:]) {
			t.Fatalf("clock seq/node = %x, want %x", u[8:], want)
		}
	}
	known := h("c0d5d6e0-3f54-11ee-8000-000000000001")
	if got, want := TimeUUIDMicros(known), time.Date(2023, 8, 20, 12, 26, 14, 10646000, time.UTC).UnixMicro(); got != want {
		t.Errorf("TimeUUIDMicros(%x) = %d, want %d", known, got, want)
	}
	if TimeUUIDMicros([]byte{1, 2}) != 0 {
		t.Error("short input should give 0")
	}
	// Sub-microsecond ticks are dropped, rounding down.
	if got := TimeUUIDMicros(MaxTimeUUID(5)); got != 5999 {
		t.Errorf("TimeUUIDMicros(MaxTimeUUID(5)) = %d, want 5999", got)
	}
	if got := TimeUUIDMicros(MaxTimeUUID(-1)); got != -1 {
		t.Errorf("TimeUUIDMicros(MaxTimeUUID(-1)) = %d, want -1", got)
	}
	if got := TimeUUIDMicros(MinTimeUUID(-1)); got != -1000 {
		t.Errorf("TimeUUIDMicros(MinTimeUUID(-1)) = %d, want -1000", got)
	}
}

func TestMinMaxTimeUUID(t *testing.T) {
	// minTimeuuid / maxTimeuuid of 2013-01-01 00:05:00+0000 (ms
	// 1356998700000); expected values computed with Python's uuid module.
	ms := int64(1356998700000)
	tu := MustParse("timeuuid")
	if got := tu.Format(MinTimeUUID(ms)); got != "e23f1e00-53a6-11e2-8080-808080808080" {
		t.Errorf("MinTimeUUID = %s", got)
	}
	if got := tu.Format(MaxTimeUUID(ms)); got != "e23f450f-53a6-11e2-7f7f-7f7f7f7f7f7f" {
		t.Errorf("MaxTimeUUID = %s", got)
	}
	if TimeUUIDMicros(MinTimeUUID(ms)) != ms*1000 {
		t.Error("MinTimeUUID timestamp")
	}
	if err := tu.Validate(MaxTimeUUID(ms)); err != nil {
		t.Error(err)
	}
	now := time.Now().UnixMicro()
	u := TimeUUIDFromMicros(now, [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	if tu.Compare(MinTimeUUID(now/1000), u) > 0 || tu.Compare(u, MaxTimeUUID(now/1000)) > 0 {
		t.Error("timeuuid outside its millisecond's min/max")
	}
}

func TestRandomUUID(t *testing.T) {
	a, b := RandomUUID(), RandomUUID()
	if len(a) != 16 || bytes.Equal(a, b) {
		t.Fatalf("RandomUUID = %x, %x", a, b)
	}
	if a[6]>>4 != 4 || a[8]&0xc0 != 0x80 {
		t.Errorf("version/variant bits wrong: %x", a)
	}
	if err := MustParse("uuid").Validate(a); err != nil {
		t.Error(err)
	}
	if MustParse("timeuuid").Validate(a) == nil {
		t.Error("a v4 uuid is not a timeuuid")
	}
}
