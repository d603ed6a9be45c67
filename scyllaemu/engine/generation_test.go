package engine_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/cdc"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/engine"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/types"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/wire"
)

func TestNewGenerationRoutesWritesByTheirTimestamp(t *testing.T) {
	start := time.Unix(1700000000, 0).UTC()
	clock := &fakeClock{now: start}
	e := newEngine(t, clock)
	at, err := e.NewGeneration(3 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := start.Add(3 * time.Second); !at.Equal(want) {
		t.Fatalf("generation at %v, want now + delay = %v", at, want)
	}
	gens := e.Generations()
	if len(gens) != 2 || !gens[1].Time.Equal(at) {
		t.Fatalf("generations %v", gens)
	}
	old, cur := gens[0], gens[1]
	atUS := at.UnixMicro()
	tests := []struct {
		k     int
		clock time.Time
		using string // USING TIMESTAMP clause, or "" for a server timestamp
		want  *cdc.Generation
		err   string
	}{
		{1, start, fmt.Sprintf("USING TIMESTAMP %d", start.UnixMicro()+1e6), old, ""},
		{2, start, fmt.Sprintf("USING TIMESTAMP %d", atUS-1), old, ""},
		{3, start, fmt.Sprintf("USING TIMESTAMP %d", atUS), cur, ""},
		{4, start, fmt.Sprintf("USING TIMESTAMP %d", start.UnixMicro()+5e6), cur, ""},
		{5, at.Add(-time.Millisecond), "", old, ""},
		{6, at, "", cur, ""},
		{7, at.Add(time.Hour), "", cur, ""},
		// Once the new generation has been current for the leeway,
		// ScyllaDB refuses writes to the old one.
		{8, at.Add(6 * time.Second), fmt.Sprintf("USING TIMESTAMP %d", atUS-1), nil, `"from the past"`},
		{9, at.Add(6 * time.Second), fmt.Sprintf("USING TIMESTAMP %d", start.UnixMicro()-1), nil, "before any CDC generations appeared"},
	}
	for _, tc := range tests {
		clock.Set(tc.clock)
		q := fmt.Sprintf(`INSERT INTO ks.t (k, v) VALUES (%d, %d) %s`, tc.k, tc.k, tc.using)
		_, err := e.Query(&engine.Session{}, q, engine.Params{})
		if tc.err != "" {
			ee, ok := err.(*engine.Error)
			if !ok || ee.Code != wire.Invalid || !strings.Contains(ee.Msg, tc.err) {
				t.Errorf("%s: err = %v, want Invalid containing %q", q, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}

	inGen := func(g *cdc.Generation, stream []byte) bool {
		for _, v := range g.Vnodes {
			if string(v.Stream) == string(stream) {
				return true
			}
		}
		return false
	}
	got := map[int32][]byte{}
	for _, r := range query(t, e, `SELECT "cdc$stream_id", k FROM ks.t_scylla_cdc_log`) {
		got[i32(r[1])] = r[0]
	}
	for _, tc := range tests {
		stream, ok := got[int32(tc.k)]
		switch {
		case tc.want == nil && ok:
			t.Errorf("k=%d: rejected write was logged", tc.k)
		case tc.want != nil && !ok:
			t.Errorf("k=%d: not in the log", tc.k)
		case tc.want != nil && !inGen(tc.want, stream):
			t.Errorf("k=%d: logged to stream %x, not one of the generation at %v", tc.k, stream, tc.want.Time)
		}
	}
}

func TestNewGenerationSystemTables(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1700000000, 0).UTC()}
	e := newEngine(t, clock)
	at, err := e.NewGeneration(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	gens := e.Generations()

	var times []time.Time
	for _, r := range query(t, e, `SELECT time, expired FROM system_distributed.cdc_generation_timestamps WHERE key = 'timestamps'`) {
		times = append(times, time.UnixMilli(i64(r[0])).UTC())
		if r[1] != nil {
			t.Errorf("generation %v: expired = %x, want null", times[len(times)-1], r[1])
		}
	}
	if len(times) != 2 || !times[0].Equal(at) || !times[1].Equal(gens[0].Time) {
		t.Fatalf("cdc_generation_timestamps %v, want newest first [%v %v]", times, at, gens[0].Time)
	}

	for _, g := range gens {
		rows := query(t, e, fmt.Sprintf(`SELECT range_end, streams FROM system_distributed.cdc_streams_descriptions_v2 WHERE time = %d`, g.Time.UnixMilli()))
		if len(rows) != len(g.Vnodes) {
			t.Fatalf("generation %v: %d vnode rows, want %d", g.Time, len(rows), len(g.Vnodes))
		}
		for i, r := range rows {
			streams, err := types.UnpackCollection(r[1])
			if err != nil {
				t.Fatal(err)
			}
			v := g.Vnodes[i]
			if i64(r[0]) != v.End || len(streams) != 1 || string(streams[0]) != string(v.Stream) {
				t.Errorf("generation %v vnode %d: row (%d, %x), want (%d, [%x])", g.Time, i, i64(r[0]), streams, v.End, v.Stream)
			}
		}
	}
	for i := range gens[0].Vnodes {
		if string(gens[0].Vnodes[i].Stream) == string(gens[1].Vnodes[i].Stream) {
			t.Errorf("vnode %d keeps its stream across generations", i)
		}
	}
	var local [][]byte
	for _, r := range query(t, e, `SELECT tokens FROM system.local WHERE key = 'local'`) {
		local, _ = types.UnpackCollection(r[0])
	}
	if len(local) != len(gens[1].Vnodes) {
		t.Errorf("system.local tokens %q, want one per vnode", local)
	}
}

// A new generation must start after every write already logged, even one
// stamped into the near future, and after the previous generation.
func TestNewGenerationStartsAfterAcceptedWrites(t *testing.T) {
	start := time.Unix(1700000000, 0).UTC()
	tests := []struct {
		name  string
		write time.Duration // client timestamp of a prior write, relative to now; 0: none
		delay time.Duration
		want  time.Time
	}{
		{"no writes, no delay", 0, 0, start.Add(time.Millisecond)},
		{"delay", 0, 2 * time.Second, start.Add(2 * time.Second)},
		{"delay shorter than a future write", 4 * time.Second, time.Second, start.Add(4*time.Second + time.Millisecond)},
		{"delay longer than a future write", 4 * time.Second, 10 * time.Second, start.Add(10 * time.Second)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, &fakeClock{now: start})
			if tc.write != 0 {
				query(t, e, fmt.Sprintf(`INSERT INTO ks.t (k, v) VALUES (1, 1) USING TIMESTAMP %d`, start.Add(tc.write).UnixMicro()))
			}
			at, err := e.NewGeneration(tc.delay)
			if err != nil {
				t.Fatal(err)
			}
			if !at.Equal(tc.want) {
				t.Fatalf("generation at %v, want %v", at, tc.want)
			}
			next, err := e.NewGeneration(0)
			if err != nil || !next.After(at) {
				t.Fatalf("next generation at %v (%v), want after %v", next, err, at)
			}
		})
	}
	e := newEngine(t, &fakeClock{now: start})
	if _, err := e.NewGeneration(-time.Second); err == nil {
		t.Fatal("a negative delay must be refused")
	}
}
