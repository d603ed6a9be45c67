package scyllaemu_test

import (
	"encoding/binary"
	"math"
	"sort"
	"testing"
	"time"

	"github.com/gocql/gocql"
	scyllacdc "github.com/scylladb/scylla-cdc-go"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/types"
)

type streamRow struct {
	ts    time.Time
	state int8
	id    []byte
}

func tabletStreams(t *testing.T, s *gocql.Session) []streamRow {
	t.Helper()
	var out []streamRow
	iter := s.Query(`SELECT timestamp, stream_state, stream_id FROM system.cdc_streams WHERE keyspace_name = 'tks' AND table_name = 'ev'`).Iter()
	for r := (streamRow{}); iter.Scan(&r.ts, &r.state, &r.id); r = (streamRow{}) {
		out = append(out, r)
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTabletsCDC runs scylla-cdc-go's tablets path against a table of a
// tablets keyspace: the table's own stream sets in system.cdc_timestamps
// and system.cdc_streams (as in ScyllaDB's "CDC Stream Changes" document),
// log rows in the stream of the tablet owning the row's token, and a
// tablet split (ALTER ... min_tablet_count) opening a new stream set that
// the reader follows. It waits for the library's 15 s generation poll.
func TestTabletsCDC(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for scylla-cdc-go's 15 s generation poll")
	}
	_, sx := startEmu(t, scyllaemu.Options{})
	s := sx.Session
	mustExec(t, sx,
		`CREATE KEYSPACE tks WITH replication = {'class': 'NetworkTopologyStrategy', 'replication_factor': 1} AND tablets = {'enabled': true}`,
		`CREATE TABLE tks.ev (w int, seq int, v text, PRIMARY KEY (w, seq)) WITH cdc = {'enabled': true}`)

	rows := tabletStreams(t, s)
	if len(rows) != 4 {
		t.Fatalf("system.cdc_streams: %v, want 2 streams current and opened", rows)
	}
	var first []int64
	for _, r := range rows {
		if r.state == 0 {
			first = append(first, int64(binary.BigEndian.Uint64(r.id[:8])))
		}
	}
	sort.Slice(first, func(i, j int) bool { return first[i] < first[j] })
	if len(first) != 2 || first[0] != -1 || first[1] != math.MaxInt64 {
		t.Fatalf("stream tokens %v, want each tablet's last token [-1 %d]", first, int64(math.MaxInt64))
	}

	consumed := &changeLog{notify: make(chan struct{}, 1)}
	stop := startReader(t, scyllacdc.ReaderConfig{Session: s, TableNames: []string{"tks.ev"}, ChangeConsumerFactory: consumed})

	written := 0
	write := func(n int) {
		for i := 0; i < n; i++ {
			if err := s.Query(`INSERT INTO tks.ev (w, seq, v) VALUES (?, ?, 'x')`, written%8, written).Exec(); err != nil {
				t.Fatal(err)
			}
			written++
		}
	}
	write(20)
	consumed.waitFor(t, written, 20*time.Second)

	mustExec(t, sx, `ALTER TABLE tks.ev WITH tablets = {'min_tablet_count': 4}`)
	var times []time.Time
	iter := s.Query(`SELECT timestamp FROM system.cdc_timestamps WHERE keyspace_name = 'tks' AND table_name = 'ev'`).Iter()
	for ts := (time.Time{}); iter.Scan(&ts); {
		times = append(times, ts)
	}
	if err := iter.Close(); err != nil || len(times) != 2 || !times[0].After(times[1]) {
		t.Fatalf("cdc_timestamps after the split: %v %v, want two, newest first", times, err)
	}
	states := map[int8]int{}
	for _, r := range tabletStreams(t, s) {
		if r.ts.Equal(times[0]) {
			states[r.state]++
		}
	}
	if states[0] != 4 || states[1] != 2 || states[2] != 4 {
		t.Fatalf("stream states of the new set %v, want 4 current, 2 closed, 4 opened", states)
	}
	for time.Now().Before(times[0]) {
		time.Sleep(time.Millisecond)
	}
	write(20)
	consumed.waitFor(t, written, 40*time.Second)
	if err := stop(); err != nil {
		t.Fatalf("reader: %v", err)
	}

	// Every change is in the stream of the tablet that owns its token, in
	// the stream set in force at its time.
	var sets []map[string]int64
	for _, ts := range []time.Time{times[1], times[0]} {
		set := map[string]int64{}
		for _, r := range tabletStreams(t, s) {
			if r.ts.Equal(ts) && r.state == 0 {
				set[string(r.id)] = int64(binary.BigEndian.Uint64(r.id[:8]))
			}
		}
		sets = append(sets, set)
	}
	seen := map[logKey]bool{}
	for _, c := range consumed.all() {
		seen[c.key] = true
		set := sets[0]
		if !c.time.Time().Before(times[0]) {
			set = sets[1]
		}
		end, ok := set[c.stream]
		if !ok {
			t.Errorf("change %v at %v in stream %x, not a current stream of its set", c.key, c.time.Time(), c.stream)
			continue
		}
		var ends []int64
		for _, e := range set {
			ends = append(ends, e)
		}
		sort.Slice(ends, func(i, j int) bool { return ends[i] < ends[j] })
		tok := types.Murmur3Token(types.PartitionKeyBytes([][]byte{be32(int32(c.key.w))}))
		owner := ends[sort.Search(len(ends), func(i int) bool { return ends[i] >= tok })]
		if owner != end {
			t.Errorf("change %v (token %d) in the stream of tablet ending %d, want %d", c.key, tok, end, owner)
		}
	}
	if len(seen) != written {
		t.Fatalf("%d distinct changes of %d", len(seen), written)
	}
}

func be32(v int32) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(v))
	return b[:]
}
