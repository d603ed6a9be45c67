// Package store owns the emulator's data: keyspaces, tables and their rows,
// kept in memory with the storage semantics of ScyllaDB that the drivers can
// observe: partitions ordered by murmur3 token, rows by clustering key, cells
// with write timestamps and TTLs, tombstones reconciled last-write-wins.
//
// The store knows nothing about CQL text. The engine translates statements
// into Mutations and reads, and holds the store's lock across a whole
// statement so that conditions (LWT), base writes and CDC log writes of a
// batch are one atomic step.
package store

import (
	"sort"
	"sync"

	"github.com/google/btree"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/types"
)

// ColumnKind is the role of a column in its table, as system_schema.columns
// spells it.
type ColumnKind uint8

const (
	PartitionKey ColumnKind = iota
	Clustering
	Static
	Regular
)

func (k ColumnKind) String() string {
	switch k {
	case PartitionKey:
		return "partition_key"
	case Clustering:
		return "clustering"
	case Static:
		return "static"
	default:
		return "regular"
	}
}

// Column is one column of a table.
type Column struct {
	Name string
	Type *types.Type
	Kind ColumnKind
	// Position is the index within the partition key or clustering key; -1
	// for static and regular columns (system_schema.columns.position).
	Position int
	// Desc is the clustering order of a clustering column.
	Desc bool
	// Slot indexes Row.Cells for static and regular columns; -1 for keys.
	Slot int
}

// IsKey reports whether the column is part of the primary key.
func (c *Column) IsKey() bool { return c.Kind == PartitionKey || c.Kind == Clustering }

// CDCOptions mirror the table's `cdc = {...}` map.
type CDCOptions struct {
	Enabled   bool
	Preimage  string // "false", "true" or "full"
	Postimage bool
	Delta     string // "full" or "keys"
	TTL       int32  // seconds; 0 keeps log rows forever
}

// Map renders the options the way ScyllaDB shows them in
// system_schema.scylla_tables.cdc.
func (o CDCOptions) Map() map[string]string {
	if !o.Enabled {
		return nil
	}
	b := func(v bool) string {
		if v {
			return "true"
		}
		return "false"
	}
	return map[string]string{
		"enabled":   "true",
		"preimage":  o.Preimage,
		"postimage": b(o.Postimage),
		"delta":     o.Delta,
		"ttl":       itoa(int64(o.TTL)),
	}
}

// TableOptions are the WITH options a table keeps. Properties the emulator
// does not interpret are kept verbatim in Other so system_schema can show them.
type TableOptions struct {
	Comment           string
	DefaultTTL        int32
	GCGraceSeconds    int32
	CDC               CDCOptions
	Caching           map[string]string
	Compaction        map[string]string
	Compression       map[string]string
	BloomFilterFP     float64
	CrcCheckChance    float64
	SpeculativeRetry  string
	MemtableFlushMs   int32
	MinIndexInterval  int32
	MaxIndexInterval  int32
	ReadRepairChance  float64
	DCLocalReadRepair float64
	// Tablets is the table's `tablets = {...}` map (min_tablet_count...).
	Tablets map[string]string
}

// DefaultTableOptions are ScyllaDB's defaults for a new table.
func DefaultTableOptions() TableOptions {
	return TableOptions{
		GCGraceSeconds:   864000,
		Caching:          map[string]string{"keys": "ALL", "rows_per_partition": "ALL"},
		Compaction:       map[string]string{"class": "SizeTieredCompactionStrategy"},
		Compression:      map[string]string{"sstable_compression": "org.apache.cassandra.io.compress.LZ4Compressor"},
		BloomFilterFP:    0.01,
		CrcCheckChance:   1,
		SpeculativeRetry: "99.0PERCENTILE",
		MinIndexInterval: 128,
		MaxIndexInterval: 2048,
	}
}

// Table is a table's schema and its data. Schema fields are immutable after
// the table is published, except through Store.Update (ALTER TABLE).
type Table struct {
	Keyspace string
	Name     string
	ID       [16]byte
	// Columns lists partition key columns by position, clustering columns by
	// position, static columns by name, then regular columns by name: the
	// order of ScyllaDB's `SELECT *` (its schema's column order).
	Columns []*Column
	PK      []*Column
	CK      []*Column
	// Cells holds static and regular columns by Slot. Dropped columns keep
	// their slot (set to nil) so rows need no rewrite.
	Cells []*Column
	Opts  TableOptions
	// Partitioner is empty for murmur3 and "com.scylladb.dht.CDCPartitioner"
	// for CDC log tables, whose token is the stream id's first 8 bytes.
	Partitioner string
	// CDCLog is the table's log when CDC is enabled; Base is set on a log.
	CDCLog *Table
	Base   *Table
	// Indexes are the table's secondary indexes, maintained by Apply.
	Indexes []*Index

	byName  map[string]*Column
	parts   *btree.BTreeG[*Partition]
	rowFree *btree.FreeListG[*Row]
	hasTTL  bool
	// nextExpiry is at or before the earliest expiry still ahead in the
	// table (µs; 0: not known): Purge skips its scan, which holds every
	// query up, until then. A table of week-long TTLs is then scanned once
	// a week, not on every purge tick.
	nextExpiry int64
}

// NewTable builds a table. pk and ck name columns of cols in key order; desc
// gives the clustering order per clustering column.
func NewTable(keyspace, name string, id [16]byte, cols []*Column) *Table {
	t := &Table{Keyspace: keyspace, Name: name, ID: id}
	var rest []*Column
	for _, c := range cols {
		switch c.Kind {
		case PartitionKey:
			t.PK = append(t.PK, c)
		case Clustering:
			t.CK = append(t.CK, c)
		default:
			rest = append(rest, c)
		}
	}
	sort.SliceStable(t.PK, func(i, j int) bool { return t.PK[i].Position < t.PK[j].Position })
	sort.SliceStable(t.CK, func(i, j int) bool { return t.CK[i].Position < t.CK[j].Position })
	sort.SliceStable(rest, func(i, j int) bool { return rest[i].Name < rest[j].Name })
	for _, c := range rest {
		c.Position = -1
		c.Slot = len(t.Cells)
		t.Cells = append(t.Cells, c)
	}
	for _, c := range t.PK {
		c.Slot = -1
	}
	for _, c := range t.CK {
		c.Slot = -1
	}
	t.rebuildColumns()
	t.parts = btree.NewG(16, partitionLess)
	t.rowFree = btree.NewFreeListG[*Row](btree.DefaultFreeListSize)
	return t
}

func (t *Table) rebuildColumns() {
	t.Columns = t.Columns[:0]
	t.Columns = append(t.Columns, t.PK...)
	t.Columns = append(t.Columns, t.CK...)
	var rest []*Column
	for _, c := range t.Cells {
		if c != nil {
			rest = append(rest, c)
		}
	}
	sort.SliceStable(rest, func(i, j int) bool {
		if (rest[i].Kind == Static) != (rest[j].Kind == Static) {
			return rest[i].Kind == Static
		}
		return rest[i].Name < rest[j].Name
	})
	t.Columns = append(t.Columns, rest...)
	t.byName = make(map[string]*Column, len(t.Columns))
	for _, c := range t.Columns {
		t.byName[c.Name] = c
	}
}

// Column returns the named column, or nil.
func (t *Table) Column(name string) *Column { return t.byName[name] }

// AddColumn adds a static or regular column (ALTER TABLE ADD).
func (t *Table) AddColumn(c *Column) {
	c.Position = -1
	c.Slot = len(t.Cells)
	t.Cells = append(t.Cells, c)
	t.rebuildColumns()
}

// DropColumn removes a static or regular column (ALTER TABLE DROP). Its cells
// stay in memory until overwritten but are never read again.
func (t *Table) DropColumn(name string) {
	c := t.byName[name]
	if c == nil || c.IsKey() {
		return
	}
	t.Cells[c.Slot] = nil
	t.rebuildColumns()
}

// Truncate removes every row.
func (t *Table) Truncate() { t.parts.Clear(false) }

// Keyspace is a keyspace and its tables.
type Keyspace struct {
	Name          string
	Replication   map[string]string
	DurableWrites bool
	// Tablets is the `tablets = {'enabled': ...}` choice; CDC is refused on
	// tablets keyspaces as in ScyllaDB.
	Tablets        bool
	InitialTablets int32
	Tables         map[string]*Table
	// Types are the keyspace's user-defined types by name.
	Types map[string]*types.Type
}

// Store is every keyspace of one emulated node. Its lock is taken by the
// engine for the duration of a statement: Lock for writes and DDL, RLock for
// reads.
type Store struct {
	sync.RWMutex
	Keyspaces map[string]*Keyspace
}

// New returns an empty store.
func New() *Store { return &Store{Keyspaces: make(map[string]*Keyspace)} }

// Table looks up a table; the caller holds the lock.
func (s *Store) Table(keyspace, name string) *Table {
	ks := s.Keyspaces[keyspace]
	if ks == nil {
		return nil
	}
	return ks.Tables[name]
}

func itoa(v int64) string {
	var b [24]byte
	i := len(b)
	neg := v < 0
	if neg {
		v = -v
	}
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
