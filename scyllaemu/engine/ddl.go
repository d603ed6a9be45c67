package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/cdc"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/cql"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/store"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/types"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/wire"
)

// ddlPlan runs schema statements; they are compiled at execution because
// they depend on the schema at that moment.
type ddlPlan struct {
	planMeta
	stmt     cql.Statement
	src      string
	keyspace string
	// internal lets bootstrap create the system keyspaces.
	internal bool
}

func (p *ddlPlan) exec(e *Engine, x *execCtx) (*Result, error) {
	e.st.Lock()
	e.newIDs = e.newIDs[:0]
	e.ddlTime = e.nowMicros()
	changes, err := e.execDDL(p, x)
	if err == nil && len(changes) > 0 {
		e.schemaGen.Add(1)
		e.writeSchemaVersion()
	}
	if err == nil && !p.internal {
		e.logDDL(p.keyspace, p.src)
	}
	e.ddlTime = 0
	e.st.Unlock()
	if len(changes) > 0 {
		// Stale plans point at the old tables: dropping them lets a
		// dropped table's data be collected (plans recompile on use).
		e.mu.Lock()
		for _, ps := range e.prepared {
			ps.plan = nil
		}
		e.mu.Unlock()
	}
	if err != nil {
		return nil, err
	}
	if len(changes) == 0 {
		return &Result{Kind: ResultVoid}, nil
	}
	if e.opts.OnSchemaChange != nil {
		for _, c := range changes {
			e.opts.OnSchemaChange(c)
		}
	}
	return &Result{Kind: ResultSchemaChange, Change: changes[0]}, nil
}

var validName = regexp.MustCompile(`^\w{1,48}$`)

func (e *Engine) execDDL(p *ddlPlan, x *execCtx) ([]SchemaChange, error) {
	guard := func(ks string) error {
		if !p.internal && isSystemKeyspace(ks) {
			return unauthorizedf("%s keyspace is not user-modifiable.", ks)
		}
		return nil
	}
	switch s := p.stmt.(type) {
	case *cql.CreateKeyspaceStmt:
		if err := guard(s.Name); err != nil {
			return nil, err
		}
		return e.createKeyspace(s)
	case *cql.DropKeyspaceStmt:
		if err := guard(s.Name); err != nil {
			return nil, err
		}
		if e.st.Keyspaces[s.Name] == nil {
			if s.IfExists {
				return nil, nil
			}
			return nil, configf("Cannot drop non existing keyspace '%s'.", s.Name)
		}
		for _, t := range e.st.Keyspaces[s.Name].Tables {
			e.dropTabletStreams(t)
		}
		delete(e.st.Keyspaces, s.Name)
		e.deleteSchemaRows(s.Name, "")
		return []SchemaChange{{Change: "DROPPED", Target: "KEYSPACE", Keyspace: s.Name}}, nil
	case *cql.CreateTableStmt:
		ks := qualify(s.Table, p.keyspace)
		if err := guard(ks); err != nil {
			return nil, err
		}
		return e.createTable(ks, s)
	case *cql.DropTableStmt:
		ks := qualify(s.Table, p.keyspace)
		if err := guard(ks); err != nil {
			return nil, err
		}
		return e.dropTable(ks, s)
	case *cql.AlterTableStmt:
		ks := qualify(s.Table, p.keyspace)
		if err := guard(ks); err != nil {
			return nil, err
		}
		return e.alterTable(ks, s)
	case *cql.CreateTypeStmt, *cql.DropTypeStmt, *cql.AlterTypeStmt:
		return e.execTypeDDL(s, p.keyspace)
	case *cql.CreateIndexStmt:
		ks := qualify(s.Table, p.keyspace)
		if err := guard(ks); err != nil {
			return nil, err
		}
		return e.createIndex(ks, s)
	case *cql.DropIndexStmt:
		return e.dropIndex(qualify(s.Name, p.keyspace), s)
	case *cql.TruncateStmt:
		ks := qualify(s.Table, p.keyspace)
		if err := guard(ks); err != nil {
			return nil, err
		}
		t, err := e.resolveTable(ks, s.Table)
		if err != nil {
			return nil, err
		}
		t.Truncate()
		return nil, nil
	}
	return nil, invalidf("unsupported schema statement")
}

func qualify(n cql.TableName, sessKS string) string {
	if n.Keyspace != "" {
		return n.Keyspace
	}
	return sessKS
}

func (e *Engine) createKeyspace(s *cql.CreateKeyspaceStmt) ([]SchemaChange, error) {
	if !validName.MatchString(s.Name) {
		return nil, invalidf("Keyspace name must not be empty, more than 48 characters long, or contain non-alphanumeric-underscore characters (got \"%s\")", s.Name)
	}
	if e.st.Keyspaces[s.Name] != nil {
		if s.IfNotExists {
			return nil, nil
		}
		return nil, keyspaceExists(s.Name)
	}
	ks := &store.Keyspace{Name: s.Name, DurableWrites: true, Tables: map[string]*store.Table{}}
	var tablets map[string]string
	for _, prop := range s.Properties {
		switch prop.Name {
		case "replication":
			m, err := propMap(prop)
			if err != nil {
				return nil, err
			}
			if ks.Replication, err = normalizeReplication(m); err != nil {
				return nil, err
			}
		case "durable_writes":
			v, err := propBool(prop)
			if err != nil {
				return nil, err
			}
			ks.DurableWrites = v
		case "tablets":
			m, err := propMap(prop)
			if err != nil {
				return nil, err
			}
			tablets = m
		default:
			return nil, &Error{Code: wire.SyntaxError, Msg: fmt.Sprintf("Unknown property '%s'", prop.Name)}
		}
	}
	if ks.Replication == nil {
		return nil, configf("Missing mandatory option 'replication'")
	}
	nts := strings.HasSuffix(ks.Replication["class"], "NetworkTopologyStrategy")
	ks.Tablets = nts && e.opts.TabletsByDefault
	for k, v := range tablets {
		switch k {
		case "enabled":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, configf("Invalid value for tablets option 'enabled': %s", v)
			}
			ks.Tablets = b
		case "initial":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return nil, configf("Invalid value for tablets option 'initial': %s", v)
			}
			ks.InitialTablets, ks.Tablets = int32(n), true
		default:
			return nil, configf("Unrecognized tablets option %s", k)
		}
	}
	if ks.Tablets && !nts {
		return nil, configf("Tablets are only supported with NetworkTopologyStrategy")
	}
	e.st.Keyspaces[s.Name] = ks
	e.writeKeyspaceRows(ks)
	return []SchemaChange{{Change: "CREATED", Target: "KEYSPACE", Keyspace: s.Name}}, nil
}

func normalizeReplication(m map[string]string) (map[string]string, error) {
	class := m["class"]
	if class == "" {
		return nil, configf("Missing replication strategy class")
	}
	short := class[strings.LastIndex(class, ".")+1:]
	out := map[string]string{}
	switch short {
	case "SimpleStrategy":
		rf, ok := m["replication_factor"]
		if !ok {
			return nil, configf("SimpleStrategy requires a replication_factor strategy option.")
		}
		if n, err := strconv.Atoi(rf); err != nil || n < 0 {
			return nil, configf("Replication factor must be non-negative; found %s", rf)
		}
		out["replication_factor"] = rf
	case "NetworkTopologyStrategy":
		for k, v := range m {
			if k == "class" {
				continue
			}
			if n, err := strconv.Atoi(v); err != nil || n < 0 {
				return nil, configf("Replication factor must be non-negative; found %s", v)
			}
			if k == "replication_factor" {
				k = "datacenter1"
			}
			out[k] = v
		}
	case "LocalStrategy", "EverywhereStrategy":
	default:
		return nil, configf("Unable to find replication strategy class 'org.apache.cassandra.locator.%s'", short)
	}
	out["class"] = "org.apache.cassandra.locator." + short
	return out, nil
}

func replicationFactor(m map[string]string) int {
	rf := 0
	for k, v := range m {
		if k == "class" {
			continue
		}
		n, _ := strconv.Atoi(v)
		rf += n
	}
	if rf == 0 {
		rf = 1
	}
	return rf
}

func propMap(p cql.Property) (map[string]string, error) {
	ml, ok := p.Value.(*cql.MapLit)
	if !ok {
		return nil, &Error{Code: wire.SyntaxError, Msg: fmt.Sprintf("Invalid value for property '%s': expected a map", p.Name)}
	}
	out := map[string]string{}
	for i := range ml.Keys {
		k, ok1 := ml.Keys[i].(*cql.Constant)
		v, ok2 := ml.Values[i].(*cql.Constant)
		if !ok1 || !ok2 {
			return nil, &Error{Code: wire.SyntaxError, Msg: fmt.Sprintf("Invalid value for property '%s'", p.Name)}
		}
		out[strings.ToLower(k.Text)] = v.Text
	}
	return out, nil
}

func propConst(p cql.Property) (string, error) {
	c, ok := p.Value.(*cql.Constant)
	if !ok {
		return "", &Error{Code: wire.SyntaxError, Msg: fmt.Sprintf("Invalid value for property '%s'", p.Name)}
	}
	return c.Text, nil
}

func propBool(p cql.Property) (bool, error) {
	s, err := propConst(p)
	if err != nil {
		return false, err
	}
	b, perr := strconv.ParseBool(strings.ToLower(s))
	if perr != nil {
		return false, configf("Invalid boolean value %s for '%s'", s, p.Name)
	}
	return b, nil
}

func propInt(p cql.Property) (int32, error) {
	s, err := propConst(p)
	if err != nil {
		return 0, err
	}
	n, perr := strconv.ParseInt(s, 10, 32)
	if perr != nil {
		return 0, &Error{Code: wire.SyntaxError, Msg: fmt.Sprintf("Invalid integer value %s for '%s'", s, p.Name)}
	}
	return int32(n), nil
}

func propFloat(p cql.Property) (float64, error) {
	s, err := propConst(p)
	if err != nil {
		return 0, err
	}
	f, perr := strconv.ParseFloat(s, 64)
	if perr != nil {
		return 0, &Error{Code: wire.SyntaxError, Msg: fmt.Sprintf("Invalid double value %s for '%s'", s, p.Name)}
	}
	return f, nil
}

// applyTableProperties validates WITH options onto opts.
func applyTableProperties(opts *store.TableOptions, props []cql.Property) error {
	for _, prop := range props {
		var err error
		switch prop.Name {
		case "comment":
			opts.Comment, err = propConst(prop)
		case "default_time_to_live":
			opts.DefaultTTL, err = propInt(prop)
			if err == nil && (opts.DefaultTTL < 0 || opts.DefaultTTL > maxTTL) {
				return configf("default_time_to_live must be between 0 and %d, got %d", maxTTL, opts.DefaultTTL)
			}
		case "gc_grace_seconds":
			opts.GCGraceSeconds, err = propInt(prop)
		case "memtable_flush_period_in_ms":
			opts.MemtableFlushMs, err = propInt(prop)
		case "min_index_interval":
			opts.MinIndexInterval, err = propInt(prop)
		case "max_index_interval":
			opts.MaxIndexInterval, err = propInt(prop)
		case "bloom_filter_fp_chance":
			opts.BloomFilterFP, err = propFloat(prop)
		case "crc_check_chance":
			opts.CrcCheckChance, err = propFloat(prop)
		case "read_repair_chance":
			opts.ReadRepairChance, err = propFloat(prop)
		case "dclocal_read_repair_chance":
			opts.DCLocalReadRepair, err = propFloat(prop)
		case "speculative_retry":
			opts.SpeculativeRetry, err = propConst(prop)
		case "caching":
			opts.Caching, err = propMap(prop)
		case "compaction":
			opts.Compaction, err = propMap(prop)
		case "compression":
			opts.Compression, err = propMap(prop)
		case "cdc":
			// Like ScyllaDB, the map replaces every CDC option: keys left
			// out take their defaults rather than keeping old values.
			var m map[string]string
			if m, err = propMap(prop); err == nil {
				opts.CDC = store.CDCOptions{}
				err = applyCDCOptions(&opts.CDC, m)
			}
		case "tablets":
			var m map[string]string
			if m, err = propMap(prop); err == nil {
				for k, v := range m {
					switch k {
					case "min_tablet_count", "min_per_shard_tablet_count":
						if n, perr := strconv.Atoi(v); perr != nil || n < 0 {
							return configf("Invalid value for tablets option '%s': %s", k, v)
						}
					case "expected_data_size_in_gb":
					default:
						return configf("Unrecognized tablets option %s", k)
					}
				}
				opts.Tablets = m
			}
		case "paxos_grace_seconds", "tombstone_gc", "synchronous_updates", "id", "in_memory":
			// Accepted and ignored: they change nothing one node can show.
		default:
			return &Error{Code: wire.SyntaxError, Msg: fmt.Sprintf("Unknown property '%s'", prop.Name)}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// applyCDCOptions parses the cdc = {...} map as ScyllaDB's cdc::options
// does: booleans are true/1 or false/0, preimage also 'full', delta full
// or keys, ttl a non-negative number of seconds.
func applyCDCOptions(o *store.CDCOptions, m map[string]string) error {
	if o.Preimage == "" {
		o.Preimage, o.Delta, o.TTL = "false", "full", 86400
	}
	for k, v := range m {
		lv := strings.ToLower(v)
		isTrue, isFalse := lv == "true" || lv == "1", lv == "false" || lv == "0"
		switch strings.ToLower(k) {
		case "enabled":
			if !isTrue && !isFalse {
				return configf("Invalid value for CDC option \"enabled\": %s", v)
			}
			o.Enabled = isTrue
		case "preimage":
			switch {
			case isTrue:
				o.Preimage = "true"
			case lv == "full":
				o.Preimage = "full"
			case isFalse:
				o.Preimage = "false"
			default:
				return configf("Invalid value for CDC option \"preimage\": %s", v)
			}
		case "postimage":
			if !isTrue && !isFalse {
				return configf("Invalid value for CDC option \"postimage\": %s", v)
			}
			o.Postimage = isTrue
		case "delta":
			if lv != "full" && lv != "keys" {
				return configf("Invalid value for CDC option \"delta\": %s", v)
			}
			o.Delta = lv
		case "ttl":
			n, err := strconv.ParseInt(v, 10, 64)
			var ne *strconv.NumError
			switch {
			case errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange), err == nil && (n > math.MaxInt32 || n < math.MinInt32):
				return configf("Invalid CDC option: ttl too large")
			case err != nil:
				return configf("Invalid value for CDC option \"ttl\": %s", v)
			case n < 0:
				return configf("Invalid CDC option: ttl must be >= 0")
			}
			o.TTL = int32(n)
		default:
			return configf("Invalid CDC option: %s", k)
		}
	}
	return nil
}

func (e *Engine) createTable(ksName string, s *cql.CreateTableStmt) ([]SchemaChange, error) {
	if ksName == "" {
		return nil, invalidf("No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename")
	}
	ks := e.st.Keyspaces[ksName]
	if ks == nil {
		return nil, invalidf("Cannot add table '%s' to non existing keyspace '%s'.", s.Table.Name, ksName)
	}
	if !validName.MatchString(s.Table.Name) {
		return nil, invalidf("Table name must not be empty, more than 48 characters long, or contain non-alphanumeric-underscore characters (got \"%s\")", s.Table.Name)
	}
	if ks.Tables[s.Table.Name] != nil {
		if s.IfNotExists {
			return nil, nil
		}
		return nil, tableExists(ksName, s.Table.Name)
	}
	if s.CompactStorage {
		return nil, invalidf("COMPACT STORAGE is not supported by scyllaemu")
	}
	cols, err := e.buildColumns(ksName, s)
	if err != nil {
		return nil, err
	}
	opts := store.DefaultTableOptions()
	if err := applyTableProperties(&opts, s.Properties); err != nil {
		return nil, err
	}
	if opts.Tablets != nil && !ks.Tablets {
		return nil, configf("Tablet options cannot be used when tablets are disabled for the keyspace")
	}
	t := store.NewTable(ksName, s.Table.Name, e.newTableID(), cols)
	t.Opts = opts
	changes := []SchemaChange{{Change: "CREATED", Target: "TABLE", Keyspace: ksName, Name: t.Name}}
	if opts.CDC.Enabled {
		c, err := e.enableCDC(ks, t)
		if err != nil {
			return nil, err
		}
		changes = append(changes, c...)
	}
	ks.Tables[t.Name] = t
	e.writeTableRows(t)
	return changes, nil
}

// buildColumns validates a CREATE TABLE's columns and primary key.
func (e *Engine) buildColumns(ks string, s *cql.CreateTableStmt) ([]*store.Column, error) {
	byName := map[string]*store.Column{}
	var cols []*store.Column
	var inlinePK []string
	for _, d := range s.Columns {
		if byName[d.Name] != nil {
			return nil, invalidf("Multiple definition of identifier %s", d.Name)
		}
		t, err := e.parseType(ks, d.Type)
		if err != nil {
			return nil, err
		}
		if t.Kind == types.Counter {
			return nil, invalidf("Counter columns are not supported by scyllaemu")
		}
		c := &store.Column{Name: d.Name, Type: t, Kind: store.Regular, Position: -1}
		if d.Static {
			c.Kind = store.Static
		}
		if d.PrimaryKey {
			inlinePK = append(inlinePK, d.Name)
		}
		byName[d.Name] = c
		cols = append(cols, c)
	}
	pk, ck := s.PartitionKey, s.Clustering
	switch {
	case len(inlinePK) > 1 || (len(inlinePK) == 1 && len(pk) > 0):
		return nil, invalidf("Multiple PRIMARY KEYs specified (exactly one required)")
	case len(inlinePK) == 1:
		pk = inlinePK
	case len(pk) == 0:
		return nil, invalidf("No PRIMARY KEY specified (exactly one required)")
	}
	seen := map[string]bool{}
	for i, names := range [][]string{pk, ck} {
		for pos, n := range names {
			c := byName[n]
			if c == nil {
				return nil, invalidf("Unknown definition %s referenced in PRIMARY KEY", n)
			}
			if seen[n] {
				return nil, invalidf("Multiple definition of identifier %s", n)
			}
			seen[n] = true
			if c.Kind == store.Static {
				return nil, invalidf("Static column %s cannot be part of the PRIMARY KEY", n)
			}
			if c.Type.MultiCell() {
				if c.Type.Kind == types.UDT {
					return nil, invalidf("Invalid non-frozen user-defined type for PRIMARY KEY component %s", n)
				}
				return nil, invalidf("Invalid non-frozen collection type for PRIMARY KEY component %s", n)
			}
			if c.Type.Kind == types.Duration {
				return nil, invalidf("duration type is not supported for PRIMARY KEY part %s", n)
			}
			c.Kind, c.Position = store.PartitionKey, pos
			if i == 1 {
				c.Kind = store.Clustering
			}
		}
	}
	if len(ck) == 0 {
		for _, c := range cols {
			if c.Kind == store.Static {
				return nil, invalidf("Static columns are only useful (and thus allowed) if the table has at least one clustering column")
			}
		}
	}
	if len(s.ClusteringOrder) > 0 {
		for i, o := range s.ClusteringOrder {
			c := byName[o.Column]
			if c == nil || c.Kind != store.Clustering {
				return nil, invalidf("Only clustering key columns can be defined in CLUSTERING ORDER directive")
			}
			if i >= len(ck) || ck[i] != o.Column {
				return nil, invalidf("The order of columns in the CLUSTERING ORDER directive must be the one of the clustering key")
			}
			c.Desc = o.Desc
		}
		if len(s.ClusteringOrder) != len(ck) {
			return nil, invalidf("Missing CLUSTERING ORDER for column %s", ck[len(s.ClusteringOrder)])
		}
	}
	return cols, nil
}

// enableCDC creates the table's log, refusing what ScyllaDB refuses.
func (e *Engine) enableCDC(ks *store.Keyspace, t *store.Table) ([]SchemaChange, error) {
	logName := t.Name + cdc.LogSuffix
	if ks.Tables[logName] != nil {
		return nil, invalidf("Cannot create CDC log table for table %s.%s because a table of name %s.%s already exists", ks.Name, t.Name, ks.Name, logName)
	}
	cols, err := cdc.LogColumns(t)
	if err != nil {
		return nil, invalidf("%v", err)
	}
	log := store.NewTable(ks.Name, logName, e.newTableID(), cols)
	log.Opts = store.DefaultTableOptions()
	log.Opts.Comment = fmt.Sprintf("CDC log for %s.%s", ks.Name, t.Name)
	log.Opts.GCGraceSeconds = 0
	log.Opts.Compaction = map[string]string{"class": "TimeWindowCompactionStrategy", "compaction_window_size": "60", "compaction_window_unit": "MINUTES", "expired_sstable_check_frequency_seconds": "1800"}
	log.Partitioner = cdc.Partitioner
	log.Base = t
	t.CDCLog = log
	ks.Tables[logName] = log
	e.writeTableRows(log)
	if ks.Tablets {
		e.startTabletStreams(ks, t)
	}
	return []SchemaChange{{Change: "CREATED", Target: "TABLE", Keyspace: ks.Name, Name: logName}}, nil
}

func (e *Engine) dropCDCLog(ks *store.Keyspace, t *store.Table) []SchemaChange {
	log := t.CDCLog
	if log == nil {
		return nil
	}
	t.CDCLog = nil
	e.dropTabletStreams(t)
	delete(ks.Tables, log.Name)
	e.deleteSchemaRows(ks.Name, log.Name)
	return []SchemaChange{{Change: "DROPPED", Target: "TABLE", Keyspace: ks.Name, Name: log.Name}}
}

func (e *Engine) dropTable(ksName string, s *cql.DropTableStmt) ([]SchemaChange, error) {
	ks := e.st.Keyspaces[ksName]
	var t *store.Table
	if ks != nil {
		t = ks.Tables[s.Table.Name]
	}
	if t == nil {
		if s.IfExists {
			return nil, nil
		}
		if ks == nil {
			return nil, noKeyspace(ksName)
		}
		return nil, invalidf("Cannot drop non existing table '%s' in keyspace '%s'.", s.Table.Name, ksName)
	}
	if t.Base != nil && t.Base.CDCLog == t {
		return nil, invalidf("Cannot drop CDC log table %s.%s: disable CDC on %s.%s instead", ksName, t.Name, ksName, t.Base.Name)
	}
	delete(ks.Tables, t.Name)
	e.deleteSchemaRows(ksName, t.Name)
	changes := []SchemaChange{{Change: "DROPPED", Target: "TABLE", Keyspace: ksName, Name: t.Name}}
	return append(changes, e.dropCDCLog(ks, t)...), nil
}

func (e *Engine) alterTable(ksName string, s *cql.AlterTableStmt) ([]SchemaChange, error) {
	t, err := e.resolveTable(ksName, s.Table)
	if err != nil {
		return nil, err
	}
	ks := e.st.Keyspaces[t.Keyspace]
	changes := []SchemaChange{{Change: "UPDATED", Target: "TABLE", Keyspace: t.Keyspace, Name: t.Name}}
	switch {
	case len(s.Properties) > 0:
		opts := t.Opts
		opts.CDC = t.Opts.CDC
		if err := applyTableProperties(&opts, s.Properties); err != nil {
			return nil, err
		}
		was := t.Opts.CDC.Enabled
		if t.Base != nil && opts.CDC.Enabled {
			return nil, invalidf("Cannot enable CDC on a CDC log table")
		}
		if opts.CDC.Enabled && !was {
			t.Opts = opts
			c, err := e.enableCDC(ks, t)
			if err != nil {
				t.Opts.CDC.Enabled = false
				return nil, err
			}
			changes = append(changes, c...)
		} else if !opts.CDC.Enabled && was {
			changes = append(changes, e.dropCDCLog(ks, t)...)
		}
		if opts.Tablets != nil && !ks.Tablets {
			return nil, configf("Tablet options cannot be used when tablets are disabled for the keyspace")
		}
		t.Opts = opts
		if opts.CDC.Enabled && was {
			e.splitTablets(ks, t)
		}
	case len(s.Add) > 0:
		// Validate every column before adding any: a statement that fails
		// changes nothing.
		var add []*store.Column
		for i, d := range s.Add {
			if t.Column(d.Name) != nil {
				return nil, invalidf("Invalid column name %s because it conflicts with an existing column", d.Name)
			}
			for _, prev := range s.Add[:i] {
				if prev.Name == d.Name {
					return nil, invalidf("Invalid column name %s because it conflicts with an existing column", d.Name)
				}
			}
			typ, err := e.parseType(t.Keyspace, d.Type)
			if err != nil {
				return nil, err
			}
			kind := store.Regular
			if d.Static {
				if len(t.CK) == 0 {
					return nil, invalidf("Static columns are only useful (and thus allowed) if the table has at least one clustering column")
				}
				kind = store.Static
			}
			add = append(add, &store.Column{Name: d.Name, Type: typ, Kind: kind})
		}
		for _, c := range add {
			t.AddColumn(c)
		}
		if err := e.rebuildLogColumns(t); err != nil {
			return nil, err
		}
	case len(s.Drop) > 0:
		for _, n := range s.Drop {
			c := t.Column(n)
			if c == nil {
				return nil, invalidf("Column %s was not found in table %s", n, t.Name)
			}
			if c.IsKey() {
				return nil, invalidf("Cannot drop PRIMARY KEY part %s", n)
			}
			for _, ix := range t.Indexes {
				if ix.Column == c {
					return nil, invalidf("Cannot drop column %s because it has dependent secondary indexes (%s)", n, ix.Name)
				}
			}
		}
		for _, n := range s.Drop {
			t.DropColumn(n)
		}
		if err := e.rebuildLogColumns(t); err != nil {
			return nil, err
		}
	}
	e.writeTableRows(t)
	if t.CDCLog != nil {
		e.writeTableRows(t.CDCLog)
	}
	return changes, nil
}

// rebuildLogColumns adds log columns for base columns added by ALTER (old
// log columns stay, as in ScyllaDB, so old log rows remain readable).
func (e *Engine) rebuildLogColumns(t *store.Table) error {
	if t.CDCLog == nil {
		return nil
	}
	want, err := cdc.LogColumns(t)
	if err != nil {
		return invalidf("%v", err)
	}
	for _, c := range want {
		if t.CDCLog.Column(c.Name) == nil {
			t.CDCLog.AddColumn(c)
		}
	}
	return nil
}

// cdcExtension encodes the cdc options as system_schema.tables.extensions
// carries them: a little-endian count, then length-prefixed key/value pairs.
func cdcExtension(o store.CDCOptions) []byte {
	m := o.Map()
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(keys)))
	for _, k := range keys {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(k)))
		b = append(b, k...)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(m[k])))
		b = append(b, m[k]...)
	}
	return b
}
