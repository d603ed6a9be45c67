package cdc

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
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
	const (
		future   = `"from the future"`
		noGen    = "before any CDC generations appeared"
		tooEarly = "too far into the past"
	)
	tests := []struct {
		name string
		// second generation's start relative to now; 0: only one generation
		second time.Duration
		ts     time.Duration // write timestamp relative to now
		err    string        // "" when accepted
	}{
		{"now", 0, 0, ""},
		{"4s ahead", 0, 4 * time.Second, ""},
		{"6s ahead", 0, 6 * time.Second, future},
		{"at the first generation's start", 0, -time.Minute, ""},
		{"before the first generation", 0, -time.Minute - time.Millisecond, noGen},
		{"old write to the only generation", 0, -30 * time.Second, ""},
		{"next generation not started: old write to the current one", 10 * time.Second, -30 * time.Second, ""},
		{"next generation not started: near-future write", 10 * time.Second, 4 * time.Second, ""},
		{"next generation just started: recent write to the previous one", -2 * time.Second, -3 * time.Second, ""},
		{"next generation just started: old write to the previous one", -2 * time.Second, -6 * time.Second, tooEarly},
		{"next generation long started: old write to it", -10 * time.Second, -6 * time.Second, ""},
		{"next generation long started: write to the previous one", -10 * time.Second, -11 * time.Second, tooEarly},
		{"next generation long started: recent write", -10 * time.Second, -time.Second, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(5, 6))
			h := NewHistory(NewGeneration(now.Add(-time.Minute), 2, rnd))
			if tc.second != 0 {
				if err := h.Add(NewGeneration(now.Add(tc.second), 2, rnd)); err != nil {
					t.Fatal(err)
				}
			}
			err := h.CheckWriteTime(now.Add(tc.ts).UnixMicro(), now)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrWriteTime)):
				t.Fatalf("err = %v, want ErrWriteTime containing %q", err, tc.err)
			}
		})
	}
}

func TestHistoryRoutesByWriteTime(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 8))
	first := NewGeneration(time.Unix(1700000000, 0), 4, rnd)
	second := NewGeneration(first.Time.Add(time.Minute), 4, rnd)
	h := NewHistory(first)
	if err := h.Add(second); err != nil {
		t.Fatal(err)
	}
	for _, g := range []*Generation{first, second} {
		if err := h.Add(g); err == nil {
			t.Fatalf("adding a generation at %v after %v must fail", g.Time, second.Time)
		}
	}
	tests := []struct {
		ts   int64
		want *Generation
	}{
		{first.Time.UnixMicro() - 1, nil},
		{first.Time.UnixMicro(), first},
		{second.Time.UnixMicro() - 1, first},
		{second.Time.UnixMicro(), second},
		{second.Time.UnixMicro() + 1e9, second},
	}
	for _, tc := range tests {
		if got := h.At(tc.ts); got != tc.want {
			t.Errorf("At(%d) = %p, want %p", tc.ts, got, tc.want)
		}
	}
	for i := range first.Vnodes {
		a, b := first.Vnodes[i], second.Vnodes[i]
		if a.End != b.End || string(a.Stream) == string(b.Stream) {
			t.Errorf("vnode %d: a new generation keeps the token ranges (%d, %d) and changes the streams", i, a.End, b.End)
		}
	}
}
