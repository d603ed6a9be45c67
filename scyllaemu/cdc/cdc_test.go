package cdc

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestGenerationStreamsFollowScyllaFormat(t *testing.T) {
	for _, n := range []int{1, 3, 16, 256} {
		g := NewGeneration(time.Unix(1700000000, 123456789), n, rand.New(rand.NewPCG(1, 2)))
		if len(g.Vnodes) != n || g.Vnodes[n-1].End != math.MaxInt64 {
			t.Fatalf("n=%d: %d vnodes, last end %d", n, len(g.Vnodes), g.Vnodes[len(g.Vnodes)-1].End)
		}
		if g.Time.Nanosecond()%int(time.Millisecond) != 0 {
			t.Fatalf("generation time must be whole milliseconds: %v", g.Time)
		}
		prev := int64(math.MinInt64)
		for i, v := range g.Vnodes {
			if len(v.Stream) != 16 {
				t.Fatalf("stream id length %d", len(v.Stream))
			}
			tok := int64(binary.BigEndian.Uint64(v.Stream[:8]))
			low := binary.BigEndian.Uint64(v.Stream[8:])
			if tok <= prev || tok > v.End {
				t.Fatalf("vnode %d: stream token %d outside (%d, %d]", i, tok, prev, v.End)
			}
			if low&0xf != 1 || int((low>>4)&(1<<22-1)) != i {
				t.Fatalf("vnode %d: low word %x must carry version 1 and vnode index", i, low)
			}
			if got := g.StreamFor(tok); string(got) != string(v.Stream) {
				t.Fatalf("vnode %d: a stream's own token must map to it", i)
			}
			prev = v.End
		}
	}
}

func TestStreamForWrapsToFirstVnode(t *testing.T) {
	g := NewGeneration(time.Now(), 4, rand.New(rand.NewPCG(3, 4)))
	tests := []struct {
		token int64
		vnode int
	}{
		{math.MinInt64, 0},
		{g.Vnodes[0].End, 0},
		{g.Vnodes[0].End + 1, 1},
		{g.Vnodes[2].End, 2},
		{math.MaxInt64, 3},
	}
	for _, tc := range tests {
		if got := g.StreamFor(tc.token); string(got) != string(g.Vnodes[tc.vnode].Stream) {
			t.Errorf("token %d: want vnode %d", tc.token, tc.vnode)
		}
	}
}

func TestCheckWriteTime(t *testing.T) {
	now := time.Unix(1700000000, 0)
	g := &Generation{Time: now.Add(-time.Minute)}
	tests := []struct {
		name string
		ts   time.Time
		ok   bool
	}{
		{"now", now, true},
		{"4s ahead", now.Add(4 * time.Second), true},
		{"6s ahead", now.Add(6 * time.Second), false},
		{"at generation start", g.Time, true},
		{"before generation", g.Time.Add(-time.Millisecond), false},
	}
	for _, tc := range tests {
		err := g.CheckWriteTime(tc.ts.UnixMicro(), now)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}
}
