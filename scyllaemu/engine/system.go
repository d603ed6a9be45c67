package engine

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/cdc"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/cql"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/store"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/types"
)

// systemSchema is the DDL of the system tables the drivers read, with
// ScyllaDB's column types: gocql scans several of them into typed Go values
// and fails on a mismatch.
var systemSchema = []string{
	`CREATE KEYSPACE system WITH replication = {'class': 'LocalStrategy'} AND durable_writes = true`,
	`CREATE KEYSPACE system_schema WITH replication = {'class': 'LocalStrategy'} AND durable_writes = true`,
	`CREATE KEYSPACE system_distributed WITH replication = {'class': 'SimpleStrategy', 'replication_factor': '3'} AND durable_writes = true`,
	`CREATE TABLE system_schema.keyspaces (keyspace_name text PRIMARY KEY, durable_writes boolean, replication frozen<map<text, text>>)`,
	`CREATE TABLE system_schema.scylla_keyspaces (keyspace_name text PRIMARY KEY, initial_tablets int, storage_options frozen<map<text, text>>, storage_type text)`,
	`CREATE TABLE system_schema.tables (keyspace_name text, table_name text, bloom_filter_fp_chance double, caching frozen<map<text, text>>, comment text, compaction frozen<map<text, text>>, compression frozen<map<text, text>>, crc_check_chance double, dclocal_read_repair_chance double, default_time_to_live int, extensions frozen<map<text, blob>>, flags frozen<set<text>>, gc_grace_seconds int, id uuid, max_index_interval int, memtable_flush_period_in_ms int, min_index_interval int, read_repair_chance double, speculative_retry text, PRIMARY KEY (keyspace_name, table_name))`,
	`CREATE TABLE system_schema.scylla_tables (keyspace_name text, table_name text, cdc frozen<map<text, text>>, in_memory boolean, partitioner text, version uuid, PRIMARY KEY (keyspace_name, table_name))`,
	`CREATE TABLE system_schema.columns (keyspace_name text, table_name text, column_name text, clustering_order text, column_name_bytes blob, kind text, position int, type text, PRIMARY KEY (keyspace_name, table_name, column_name))`,
	`CREATE TABLE system_schema.dropped_columns (keyspace_name text, table_name text, column_name text, dropped_time timestamp, type text, PRIMARY KEY (keyspace_name, table_name, column_name))`,
	`CREATE TABLE system_schema.types (keyspace_name text, type_name text, field_names frozen<list<text>>, field_types frozen<list<text>>, PRIMARY KEY (keyspace_name, type_name))`,
	`CREATE TABLE system_schema.functions (keyspace_name text, function_name text, argument_types frozen<list<text>>, argument_names frozen<list<text>>, body text, called_on_null_input boolean, language text, return_type text, PRIMARY KEY (keyspace_name, function_name, argument_types))`,
	`CREATE TABLE system_schema.aggregates (keyspace_name text, aggregate_name text, argument_types frozen<list<text>>, final_func text, initcond text, return_type text, state_func text, state_type text, PRIMARY KEY (keyspace_name, aggregate_name, argument_types))`,
	`CREATE TABLE system_schema.indexes (keyspace_name text, table_name text, index_name text, kind text, options frozen<map<text, text>>, PRIMARY KEY (keyspace_name, table_name, index_name))`,
	`CREATE TABLE system_schema.views (keyspace_name text, view_name text, base_table_id uuid, base_table_name text, bloom_filter_fp_chance double, caching frozen<map<text, text>>, comment text, compaction frozen<map<text, text>>, compression frozen<map<text, text>>, crc_check_chance double, dclocal_read_repair_chance double, default_time_to_live int, extensions frozen<map<text, blob>>, gc_grace_seconds int, id uuid, include_all_columns boolean, max_index_interval int, memtable_flush_period_in_ms int, min_index_interval int, read_repair_chance double, speculative_retry text, where_clause text, PRIMARY KEY (keyspace_name, view_name))`,
	`CREATE TABLE system_schema.triggers (keyspace_name text, table_name text, trigger_name text, options frozen<map<text, text>>, PRIMARY KEY (keyspace_name, table_name, trigger_name))`,
	`CREATE TABLE system.local (key text PRIMARY KEY, bootstrapped text, broadcast_address inet, cluster_name text, cql_version text, data_center text, gossip_generation int, host_id uuid, listen_address inet, native_port int, native_protocol_version text, partitioner text, rack text, release_version text, rpc_address inet, schema_version uuid, supported_features text, thrift_version text, tokens set<text>, truncated_at map<uuid, blob>)`,
	`CREATE TABLE system.peers (peer inet PRIMARY KEY, data_center text, host_id uuid, preferred_ip inet, rack text, release_version text, rpc_address inet, schema_version uuid, supported_features text, tokens set<text>)`,
	`CREATE TABLE system.peers_v2 (peer inet, peer_port int, data_center text, host_id uuid, native_address inet, native_port int, preferred_ip inet, preferred_port int, rack text, release_version text, schema_version uuid, supported_features text, tokens set<text>, PRIMARY KEY (peer, peer_port))`,
	`CREATE TABLE system.cdc_local (key text PRIMARY KEY, streams_timestamp timestamp, uuid uuid)`,
	`CREATE TABLE system.cdc_timestamps (keyspace_name text, table_name text, timestamp timestamp, PRIMARY KEY ((keyspace_name, table_name), timestamp)) WITH CLUSTERING ORDER BY (timestamp DESC)`,
	`CREATE TABLE system.cdc_streams (keyspace_name text, table_name text, timestamp timestamp, stream_state tinyint, stream_id blob, PRIMARY KEY ((keyspace_name, table_name), timestamp, stream_state, stream_id))`,
	`CREATE TABLE system_distributed.cdc_streams_descriptions_v2 (time timestamp, range_end bigint, streams frozen<set<blob>>, PRIMARY KEY (time, range_end))`,
	`CREATE TABLE system_distributed.cdc_generation_timestamps (key text, time timestamp, expired timestamp, PRIMARY KEY (key, time)) WITH CLUSTERING ORDER BY (time DESC)`,
}

// bootstrapSchema creates the system keyspaces and tables.
func (e *Engine) bootstrapSchema() error {
	for _, q := range systemSchema {
		parsed, err := cql.Parse(q)
		if err != nil {
			return fmt.Errorf("scyllaemu: system schema %q: %w", q, err)
		}
		p := &ddlPlan{stmt: parsed.Stmt, internal: true}
		e.st.Lock()
		_, err = e.execDDL(p, nil)
		e.st.Unlock()
		if err != nil {
			return fmt.Errorf("scyllaemu: system schema %q: %w", q, err)
		}
	}
	e.st.Lock()
	defer e.st.Unlock()
	// Tables created before system_schema existed are described now.
	for _, ks := range e.st.Keyspaces {
		e.writeKeyspaceRows(ks)
		for _, t := range ks.Tables {
			e.writeTableRows(t)
		}
	}
	return nil
}

// bootstrapLocal writes system.local and publishes the CDC generations, once
// the host id and generations are known (restored from a data directory).
func (e *Engine) bootstrapLocal() {
	e.st.Lock()
	defer e.st.Unlock()
	tokens := e.gens.Latest().Tokens()
	tokenSet := make([][]byte, len(tokens))
	for i, t := range tokens {
		tokenSet[i] = []byte(t)
	}
	addr := []byte(e.opts.Address.To4())
	if addr == nil {
		addr = []byte(e.opts.Address.To16())
	}
	local := e.st.Table("system", "local")
	e.put(local, map[string][]byte{
		"key":                     []byte("local"),
		"bootstrapped":            []byte("COMPLETED"),
		"broadcast_address":       addr,
		"cluster_name":            []byte(e.opts.ClusterName),
		"cql_version":             []byte("3.3.1"),
		"data_center":             []byte("datacenter1"),
		"gossip_generation":       be32(uint32(e.opts.Clock().Unix())),
		"host_id":                 e.hostID,
		"listen_address":          addr,
		"native_port":             be32(uint32(e.opts.Port)),
		"native_protocol_version": []byte("4"),
		"partitioner":             []byte("org.apache.cassandra.dht.Murmur3Partitioner"),
		"rack":                    []byte("rack1"),
		"release_version":         []byte("3.0.8"),
		"rpc_address":             addr,
		"supported_features":      []byte(""),
		"thrift_version":          []byte("20.1.0"),
		"tokens":                  mustPack(local.Column("tokens").Type, tokenSet),
	})
	e.writeSchemaVersion()
	for _, g := range e.gens.Generations() {
		e.publishGeneration(g)
	}
}

// publishGeneration writes a generation where CDC clients look for it, in
// ScyllaDB's order: the streams of each vnode (one per shard, and the
// emulator has one shard), then the timestamp row that makes readers see
// the generation. The caller holds the write lock.
func (e *Engine) publishGeneration(g *cdc.Generation) {
	genMs := g.Time.UnixMilli()
	streams := e.st.Table("system_distributed", "cdc_streams_descriptions_v2")
	for _, v := range g.Vnodes {
		e.put(streams, map[string][]byte{
			"time":      be64(genMs),
			"range_end": be64(v.End),
			"streams":   mustPack(streams.Column("streams").Type, [][]byte{v.Stream}),
		})
	}
	e.put(e.st.Table("system_distributed", "cdc_generation_timestamps"), map[string][]byte{
		"key":  []byte("timestamps"),
		"time": be64(genMs),
	})
}

// writeSchemaVersion gives system.local a new schema_version; drivers poll
// it for schema agreement after DDL.
func (e *Engine) writeSchemaVersion() {
	if local := e.st.Table("system", "local"); local != nil {
		e.put(local, map[string][]byte{"key": []byte("local"), "schema_version": e.randomUUID()})
	}
}

// put writes one row of an internal table; absent or nil values stay null.
func (e *Engine) put(t *store.Table, vals map[string][]byte) {
	pk := make([][]byte, len(t.PK))
	for i, c := range t.PK {
		pk[i] = vals[c.Name]
	}
	ck := make([][]byte, len(t.CK))
	for i, c := range t.CK {
		ck[i] = vals[c.Name]
	}
	var cells []store.CellWrite
	for _, c := range t.Cells {
		if c == nil {
			continue
		}
		if v, ok := vals[c.Name]; ok && v != nil {
			cells = append(cells, store.CellWrite{Slot: c.Slot, Value: v})
		}
	}
	m := &store.Mutation{Table: t, Key: types.PartitionKeyBytes(pk), TS: e.writeTimestamp(),
		Rows: []store.RowWrite{{CK: ck, Marker: true, Cells: cells}}}
	t.Apply(m, e.nowMicros())
}

func mustPack(t *types.Type, elems [][]byte) []byte {
	v, err := types.PackCollection(t, elems)
	if err != nil {
		panic(fmt.Sprintf("scyllaemu: packing %s: %v", t, err))
	}
	return v
}

var (
	textMapType  = &types.Type{Kind: types.Map, Elems: []*types.Type{{Kind: types.Varchar}, {Kind: types.Varchar}}, Frozen: true}
	blobMapType  = &types.Type{Kind: types.Map, Elems: []*types.Type{{Kind: types.Varchar}, {Kind: types.Blob}}, Frozen: true}
	textSetType  = &types.Type{Kind: types.Set, Elems: []*types.Type{{Kind: types.Varchar}}, Frozen: true}
	schemaTables = []string{"tables", "scylla_tables", "columns", "dropped_columns", "indexes", "views", "triggers", "types", "functions", "aggregates"}
)

func textMap(m map[string]string) []byte {
	if m == nil {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	flat := make([][]byte, 0, 2*len(m))
	for _, k := range keys {
		flat = append(flat, []byte(k), []byte(m[k]))
	}
	return mustPack(textMapType, flat)
}

func f64(v float64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], math.Float64bits(v))
	return b[:]
}

func (e *Engine) writeKeyspaceRows(ks *store.Keyspace) {
	kt := e.st.Table("system_schema", "keyspaces")
	if kt == nil {
		return
	}
	e.put(kt, map[string][]byte{
		"keyspace_name":  []byte(ks.Name),
		"durable_writes": boolBytes(ks.DurableWrites),
		"replication":    textMap(ks.Replication),
	})
	// Only tablets keyspaces get a scylla_keyspaces row: scylla-cdc-go reads
	// any row with an initial_tablets column as "tablets in use".
	if ks.Tablets {
		e.put(e.st.Table("system_schema", "scylla_keyspaces"), map[string][]byte{
			"keyspace_name":   []byte(ks.Name),
			"initial_tablets": be32(uint32(ks.InitialTablets)),
		})
	}
}

// deleteSchemaRows removes the system_schema rows of a table, or of a whole
// keyspace when table is empty.
func (e *Engine) deleteSchemaRows(ks, table string) {
	key := types.PartitionKeyBytes([][]byte{[]byte(ks)})
	ts := e.writeTimestamp()
	now := e.nowMicros()
	names := schemaTables
	if table == "" {
		names = append([]string{"keyspaces", "scylla_keyspaces"}, schemaTables...)
	}
	for _, name := range names {
		t := e.st.Table("system_schema", name)
		if t == nil {
			continue
		}
		m := &store.Mutation{Table: t, Key: key, TS: ts}
		if table == "" {
			m.PartitionDelete = true
		} else {
			b := store.Bound{Prefix: [][]byte{[]byte(table)}, Inclusive: true}
			m.Ranges = []store.RangeTombstone{{Start: b, End: b}}
		}
		t.Apply(m, now)
	}
}

func (e *Engine) writeTableRows(t *store.Table) {
	tables := e.st.Table("system_schema", "tables")
	scyllaTables := e.st.Table("system_schema", "scylla_tables")
	cols := e.st.Table("system_schema", "columns")
	if tables == nil || scyllaTables == nil || cols == nil {
		return // bootstrap: described once system_schema is complete
	}
	e.deleteSchemaRows(t.Keyspace, t.Name)
	o := t.Opts
	var ext []byte
	if o.CDC.Enabled {
		ext = mustPack(blobMapType, [][]byte{[]byte("cdc"), cdcExtension(o.CDC)})
	}
	flags := [][]byte{}
	if len(t.CK) > 0 || len(t.PK) > 1 {
		flags = append(flags, []byte("compound"))
	}
	e.put(tables, map[string][]byte{
		"keyspace_name":               []byte(t.Keyspace),
		"table_name":                  []byte(t.Name),
		"bloom_filter_fp_chance":      f64(o.BloomFilterFP),
		"caching":                     textMap(o.Caching),
		"comment":                     []byte(o.Comment),
		"compaction":                  textMap(o.Compaction),
		"compression":                 textMap(o.Compression),
		"crc_check_chance":            f64(o.CrcCheckChance),
		"dclocal_read_repair_chance":  f64(o.DCLocalReadRepair),
		"default_time_to_live":        be32(uint32(o.DefaultTTL)),
		"extensions":                  ext,
		"flags":                       mustPack(textSetType, flags),
		"gc_grace_seconds":            be32(uint32(o.GCGraceSeconds)),
		"id":                          t.ID[:],
		"max_index_interval":          be32(uint32(o.MaxIndexInterval)),
		"memtable_flush_period_in_ms": be32(uint32(o.MemtableFlushMs)),
		"min_index_interval":          be32(uint32(o.MinIndexInterval)),
		"read_repair_chance":          f64(o.ReadRepairChance),
		"speculative_retry":           []byte(o.SpeculativeRetry),
	})
	var partitioner []byte
	if t.Partitioner != "" {
		partitioner = []byte(t.Partitioner)
	}
	e.put(scyllaTables, map[string][]byte{
		"keyspace_name": []byte(t.Keyspace),
		"table_name":    []byte(t.Name),
		"cdc":           textMap(o.CDC.Map()),
		"in_memory":     boolBytes(false),
		"partitioner":   partitioner,
		"version":       e.randomUUID(),
	})
	for _, c := range t.Columns {
		order := "none"
		if c.Kind == store.Clustering {
			order = "asc"
			if c.Desc {
				order = "desc"
			}
		}
		e.put(cols, map[string][]byte{
			"keyspace_name":     []byte(t.Keyspace),
			"table_name":        []byte(t.Name),
			"column_name":       []byte(c.Name),
			"clustering_order":  []byte(order),
			"column_name_bytes": []byte(c.Name),
			"kind":              []byte(c.Kind.String()),
			"position":          be32(uint32(int32(c.Position))),
			"type":              []byte(c.Type.String()),
		})
	}
	e.writeIndexRows(t)
}
