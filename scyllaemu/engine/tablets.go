package engine

import (
	"strconv"
	"time"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/cdc"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/store"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/types"
)

// Tablets-based CDC, as ScyllaDB 2025.4 exposes it. A table of a tablets
// keyspace has its own stream sets instead of the cluster's generations:
// one stream per tablet, a new set when its tablets split (here: when
// ALTER TABLE ... WITH tablets = {'min_tablet_count': N} raises the
// count). The sets appear in system.cdc_timestamps (newest first) and
// system.cdc_streams (stream_state 0 current, 1 closed, 2 opened), which
// scylla-cdc-go reads for such a table. Stream states as in scylla-cdc-go.
const (
	streamCurrent int8 = 0
	streamClosed  int8 = 1
	streamOpened  int8 = 2
)

// defaultTablets is a new table's tablet count when neither the keyspace's
// 'initial' nor the table's 'min_tablet_count' says otherwise.
const defaultTablets = 2

// ddlNow is the clock of a schema statement: during replay, the time it
// originally ran at, so that time-derived schema (stream sets) repeats.
func (e *Engine) ddlNow() int64 {
	if e.ddlTime != 0 {
		return e.ddlTime
	}
	return e.nowMicros()
}

// tabletCount is a table's tablet count: a power of two, at least its
// min_tablet_count and the keyspace's initial count.
func tabletCount(ks *store.Keyspace, o store.TableOptions) int {
	want := defaultTablets
	if ks.InitialTablets > 0 {
		want = int(ks.InitialTablets)
	}
	if n, err := strconv.Atoi(o.Tablets["min_tablet_count"]); err == nil && n > want {
		want = n
	}
	n := 1
	for n < want {
		n *= 2
	}
	return n
}

// startTabletStreams creates a tablets table's first stream set.
func (e *Engine) startTabletStreams(ks *store.Keyspace, t *store.Table) {
	at := time.UnixMicro(e.ddlNow()).Truncate(time.Millisecond)
	g := cdc.NewTabletStreams(t.ID, at, tabletCount(ks, t.Opts))
	e.tablets[t.ID] = cdc.NewHistory(g)
	e.publishTabletStreams(t, nil, g)
}

// splitTablets starts a new stream set when the table's tablet count grew.
func (e *Engine) splitTablets(ks *store.Keyspace, t *store.Table) {
	h := e.tablets[t.ID]
	if h == nil {
		return
	}
	latest := h.Latest()
	n := tabletCount(ks, t.Opts)
	if n <= len(latest.Vnodes) {
		return // ScyllaDB merges tablets only under load; keep the set
	}
	at := max(e.ddlNow(), e.maxCDCWrite+1, latest.Time.UnixMicro()+1000)
	ms := (at + 999) / 1000
	g := cdc.NewTabletStreams(t.ID, time.UnixMilli(ms).UTC(), n)
	if err := h.Add(g); err != nil {
		return
	}
	e.publishTabletStreams(t, latest, g)
}

// publishTabletStreams writes a stream set to system.cdc_streams and its
// time to system.cdc_timestamps.
func (e *Engine) publishTabletStreams(t *store.Table, prev, g *cdc.Generation) {
	streams := e.st.Table("system", "cdc_streams")
	ms := be64(g.Time.UnixMilli())
	row := func(state int8, id []byte) {
		e.put(streams, map[string][]byte{
			"keyspace_name": []byte(t.Keyspace),
			"table_name":    []byte(t.Name),
			"timestamp":     ms,
			"stream_state":  {byte(state)},
			"stream_id":     id,
		})
	}
	for _, v := range g.Vnodes {
		row(streamCurrent, v.Stream)
		row(streamOpened, v.Stream)
	}
	if prev != nil {
		for _, v := range prev.Vnodes {
			row(streamClosed, v.Stream)
		}
	}
	e.put(e.st.Table("system", "cdc_timestamps"), map[string][]byte{
		"keyspace_name": []byte(t.Keyspace),
		"table_name":    []byte(t.Name),
		"timestamp":     ms,
	})
}

// dropTabletStreams forgets a table's stream sets (its log was dropped).
func (e *Engine) dropTabletStreams(t *store.Table) {
	if e.tablets[t.ID] == nil {
		return
	}
	delete(e.tablets, t.ID)
	key := types.PartitionKeyBytes([][]byte{[]byte(t.Keyspace), []byte(t.Name)})
	for _, name := range []string{"cdc_streams", "cdc_timestamps"} {
		tbl := e.st.Table("system", name)
		tbl.Apply(&store.Mutation{Table: tbl, Key: key, TS: e.writeTimestamp(), PartitionDelete: true}, e.nowMicros())
	}
}

// streamsOf is the stream history a CDC table's writes use: its own for a
// tablets table, nil for the cluster's generations.
func (e *Engine) streamsOf(t *store.Table) *cdc.History {
	return e.tablets[t.ID]
}
