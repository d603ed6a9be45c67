package schema

import (
	"bytes"
	"context"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/gocql/gocql"
)

// Table names. They are unqualified; qualify them with the keyspace.
const (
	TableOrders                = "orders"
	TableOutboxMessages        = "outbox_messages"
	TableOutboxByBucket        = "outbox_by_bucket"
	TableDeadLetterQueue       = "dead_letter_queue"
	TableDeadLetterByAggregate = "dead_letter_by_aggregate"
	TableOrderLeases           = "order_leases"
	TableRelayCursor           = "relay_cursor"
	TableRelayFinished         = "relay_finished"
	TableCDCProgress           = "cdc_progress"
	TableRelayProgress         = "relay_progress"

	// TableOutboxCDCLog is the CDC log of outbox_messages, created and
	// dropped by ScyllaDB together with CDC on its base table.
	TableOutboxCDCLog = TableOutboxMessages + "_scylla_cdc_log"
)

// Defaults for the zero values of [Options].
const (
	DefaultKeyspace          = "outbox"
	DefaultReplicationFactor = 1
	DefaultCDCLogTTL         = 24 * time.Hour
	DefaultOutboxTTL         = 7 * 24 * time.Hour
)

// NoTTL, given as a TTL option, keeps rows forever (CQL TTL 0). The zero
// value cannot mean that because it selects the default, so that a
// forgotten setting never turns into unbounded growth.
const NoTTL time.Duration = -1

// MaxTTL is the largest TTL ScyllaDB accepts: 20 years.
const MaxTTL = 20 * 365 * 24 * time.Hour

// Options configure [Apply]. Only Keyspace is required.
type Options struct {
	// Keyspace is created if missing. It must be an unquoted CQL
	// identifier in lower case (a letter, then letters, digits or '_', at
	// most 48 in all) so that it means the same thing quoted or not, and
	// must not start with "system", which ScyllaDB reserves.
	Keyspace string
	// Replication is the keyspace replication map, used only when the
	// keyspace is created. It must name a "class"; every other value is a
	// replication factor (a non-negative integer). Default:
	// {"class": "SimpleStrategy", "replication_factor": "1"}, or with
	// Tablets {"class": "NetworkTopologyStrategy", "replication_factor":
	// "1"}, suitable for development only; production wants
	// NetworkTopologyStrategy with a factor per data centre.
	Replication map[string]string
	// Tablets creates the keyspace with tablets = {'enabled': true}
	// instead of false (vnodes). CDC works on tablets from ScyllaDB 2025.4
	// on; earlier versions refuse to create the CDC log in a tablets
	// keyspace. Tablets need NetworkTopologyStrategy, so any other
	// Replication class is rejected. Like Replication it is used only when
	// the keyspace is created: an existing keyspace keeps its mode.
	Tablets bool
	// CDCLogTTL is how long ScyllaDB keeps outbox_messages' CDC log rows
	// (the cdc 'ttl' option), and so how long the CDC relay may fall behind
	// before it loses events. Default [DefaultCDCLogTTL]; [NoTTL] keeps
	// them forever. Whole seconds.
	CDCLogTTL time.Duration
	// OutboxTTL is the default_time_to_live of outbox_messages and
	// outbox_by_bucket, and so how long the polling relay may fall behind.
	// Default [DefaultOutboxTTL]; [NoTTL] keeps rows forever. Whole seconds.
	OutboxTTL time.Duration
	// DeadLetterTTL is the default_time_to_live of dead_letter_queue and
	// dead_letter_by_aggregate. Default (zero) and [NoTTL] keep entries
	// forever, because an expired entry is an event nobody will ever
	// replay. Whole seconds.
	DeadLetterTTL time.Duration
}

var identifier = regexp.MustCompile(`^[a-z][a-z0-9_]{0,47}$`)

// resolved is Options validated and defaulted, in the shapes the templates
// and the reconciler need.
type resolved struct {
	Keyspace      string
	Replication   string // a CQL map literal
	Tablets       bool
	CDCLogTTL     int64 // seconds
	OutboxTTL     int64
	DeadLetterTTL int64
	OutboxCDC     string // a CQL map literal for outbox_messages' cdc option
}

// Validate reports the first invalid option, as an error starting
// "schema: ".
func (o Options) Validate() error {
	_, err := o.resolve()
	return err
}

func (o Options) resolve() (resolved, error) {
	r := resolved{Keyspace: o.Keyspace, Tablets: o.Tablets}
	switch {
	case o.Keyspace == "":
		return r, errors.New("schema: Keyspace must be set")
	case !identifier.MatchString(o.Keyspace):
		return r, fmt.Errorf("schema: Keyspace %q must be a lower-case CQL identifier: a letter, then letters, digits or '_', at most 48 characters", o.Keyspace)
	case strings.HasPrefix(o.Keyspace, "system"):
		return r, fmt.Errorf("schema: Keyspace %q is reserved: names starting with \"system\" belong to ScyllaDB", o.Keyspace)
	}
	var err error
	if r.Replication, err = replicationLiteral(o.Replication, o.Tablets); err != nil {
		return r, err
	}
	if r.CDCLogTTL, err = ttlSeconds("CDCLogTTL", o.CDCLogTTL, DefaultCDCLogTTL); err != nil {
		return r, err
	}
	if r.OutboxTTL, err = ttlSeconds("OutboxTTL", o.OutboxTTL, DefaultOutboxTTL); err != nil {
		return r, err
	}
	if r.DeadLetterTTL, err = ttlSeconds("DeadLetterTTL", o.DeadLetterTTL, NoTTL); err != nil {
		return r, err
	}
	r.OutboxCDC = mapLiteral(wantCDC(r.CDCLogTTL))
	return r, nil
}

// ttlSeconds turns a TTL option into CQL seconds: zero selects def, NoTTL
// is 0 (forever).
func ttlSeconds(field string, d, def time.Duration) (int64, error) {
	if d == 0 {
		d = def
	}
	switch {
	case d == NoTTL:
		return 0, nil
	case d < 0:
		return 0, fmt.Errorf("schema: %s must not be negative (use schema.NoTTL to keep rows forever), got %v", field, d)
	case d%time.Second != 0:
		// CQL TTLs are whole seconds; rounding silently would make the
		// value read back from system_schema differ from the setting.
		return 0, fmt.Errorf("schema: %s must be a whole number of seconds, got %v", field, d)
	case d > MaxTTL:
		return 0, fmt.Errorf("schema: %s must be at most %v (20 years, ScyllaDB's limit), got %v", field, MaxTTL, d)
	}
	return int64(d / time.Second), nil
}

func replicationLiteral(m map[string]string, tablets bool) (string, error) {
	if len(m) == 0 {
		m = map[string]string{"class": "SimpleStrategy", "replication_factor": "1"}
		if tablets {
			m["class"] = networkTopology
		}
	}
	if m["class"] == "" {
		return "", errors.New(`schema: Replication must name a "class", e.g. NetworkTopologyStrategy`)
	}
	if tablets && !isNetworkTopology(m["class"]) {
		return "", fmt.Errorf("schema: Tablets need Replication class NetworkTopologyStrategy, got %q", m["class"])
	}
	for k, v := range m {
		if k == "" || strings.ContainsFunc(k+v, isControl) {
			return "", fmt.Errorf("schema: Replication key %q or value %q is empty or contains control characters", k, v)
		}
		if k == "class" {
			continue
		}
		if n, err := strconv.Atoi(v); err != nil || n < 0 {
			return "", fmt.Errorf("schema: Replication[%q] must be a non-negative replication factor, got %q", k, v)
		}
	}
	return mapLiteral(m), nil
}

const networkTopology = "NetworkTopologyStrategy"

// isNetworkTopology reports whether a replication class names
// NetworkTopologyStrategy, which ScyllaDB also accepts fully qualified.
func isNetworkTopology(class string) bool {
	return class == networkTopology || class == "org.apache.cassandra.locator."+networkTopology
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// mapLiteral renders a CQL map of strings with sorted keys, so the same
// options always render the same statement.
func mapLiteral(m map[string]string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quote(k))
		b.WriteString(": ")
		b.WriteString(quote(m[k]))
	}
	b.WriteByte('}')
	return b.String()
}

// quote renders a CQL string literal; a quote is escaped by doubling it.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// wantCDC is the cdc option of outbox_messages. Every key is spelled out,
// also on ALTER, so the result never depends on whether ScyllaDB merges a
// partial map with the current options or resets the rest to defaults.
func wantCDC(ttl int64) map[string]string {
	return map[string]string{
		"enabled":   "true",
		"preimage":  "false",
		"postimage": "false",
		"ttl":       strconv.FormatInt(ttl, 10),
	}
}

//go:embed cql/*.cql
var cqlFiles embed.FS

// templates are the embedded statements in file-name order: the keyspace
// first, then the tables.
var templates = mustParseTemplates()

func mustParseTemplates() []*template.Template {
	names, err := fs.Glob(cqlFiles, "cql/*.cql")
	if err != nil {
		panic(err)
	}
	slices.Sort(names)
	out := make([]*template.Template, 0, len(names))
	for _, name := range names {
		src, err := cqlFiles.ReadFile(name)
		if err != nil {
			panic(err)
		}
		t := template.Must(template.New(name).Option("missingkey=error").Parse(string(src)))
		out = append(out, t)
	}
	return out
}

// Statements returns the CREATE statements [Apply] runs for o, in order,
// without comments: for review, or for operators who apply schema by hand.
// They do not include the ALTERs Apply issues for drifted options or for
// columns missing from tables created by an earlier release.
func Statements(o Options) ([]string, error) {
	r, err := o.resolve()
	if err != nil {
		return nil, err
	}
	return r.statements()
}

func (r resolved) statements() ([]string, error) {
	out := make([]string, 0, len(templates))
	for _, t := range templates {
		var b bytes.Buffer
		if err := t.Execute(&b, r); err != nil {
			return nil, fmt.Errorf("schema: render %s: %w", t.Name(), err)
		}
		out = append(out, stripComments(b.String()))
	}
	return out, nil
}

// stripComments drops "--" comment lines. The comments document the files;
// sending them would only make statements in server logs and driver
// heuristics (which look at a statement's first word) harder to read.
func stripComments(s string) string {
	lines := strings.Split(s, "\n")
	kept := lines[:0]
	for _, l := range lines {
		if t := strings.TrimSpace(l); t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		kept = append(kept, l)
	}
	return strings.Join(kept, "\n")
}

// managed lists the table options Apply keeps at their configured values.
type managed struct {
	table string
	ttl   int64             // default_time_to_live
	cdc   map[string]string // nil: CDC not managed (and not enabled)
}

func (r resolved) managed() []managed {
	return []managed{
		{table: TableOutboxMessages, ttl: r.OutboxTTL, cdc: wantCDC(r.CDCLogTTL)},
		{table: TableOutboxByBucket, ttl: r.OutboxTTL},
		{table: TableDeadLetterQueue, ttl: r.DeadLetterTTL},
		{table: TableDeadLetterByAggregate, ttl: r.DeadLetterTTL},
		{table: TableRelayFinished, ttl: r.OutboxTTL},
	}
}

// addedColumn is a column added to a table after the table's first
// release. CREATE TABLE IF NOT EXISTS leaves an existing table as it is, so
// Apply adds these columns to tables that lack them; each is also in its
// table's CREATE statement, for new deployments.
type addedColumn struct {
	table, name string
	typ         string // as system_schema.columns renders it
}

func addedColumns() []addedColumn {
	return []addedColumn{
		{table: TableDeadLetterQueue, name: "raw", typ: "map<text, text>"},
	}
}

// Apply creates the keyspace and every table if missing, adds the columns
// later releases added to existing tables, then alters the managed TTL
// options of existing tables that differ from o. It is idempotent and safe
// to run from every process at start-up; concurrent runs converge on the
// same schema. Errors name the statement that failed and wrap the driver's
// error.
func Apply(ctx context.Context, s *gocql.Session, o Options) error {
	return apply(ctx, s, o, true)
}

// Ensure is Apply for a process that uses a schema someone else manages
// (`outbox demo` and `outbox dev` pointed at a cluster): it creates what is
// missing and adds missing columns, but leaves the TTLs of existing tables
// as they are, so running one against a cluster migrated with other TTLs
// does not reset them. It only turns CDC back on where it is off, since the
// relay cannot run without it.
func Ensure(ctx context.Context, s *gocql.Session, o Options) error {
	return apply(ctx, s, o, false)
}

// apply is Apply, or Ensure when alterOptions is false.
func apply(ctx context.Context, s *gocql.Session, o Options, alterOptions bool) error {
	r, err := o.resolve()
	if err != nil {
		return err
	}
	if s == nil {
		return errors.New("schema: nil session")
	}
	stmts, err := r.statements()
	if err != nil {
		return err
	}
	for _, stmt := range stmts {
		if err := s.Query(stmt).WithContext(ctx).Exec(); err != nil {
			return fmt.Errorf("schema: %s: %w", firstLine(stmt), err)
		}
	}
	if err := r.addColumns(ctx, s); err != nil {
		return err
	}
	alters, err := r.alters(ctx, s, alterOptions)
	if err != nil {
		return err
	}
	for _, stmt := range alters {
		if err := s.Query(stmt).WithContext(ctx).Exec(); err != nil {
			return fmt.Errorf("schema: %s: %w", stmt, err)
		}
	}
	return nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "("))
}

// alters returns the ALTER TABLE statements that bring the managed options
// of existing tables to r, or with all false only those that turn a
// disabled CDC back on. Options are compared with what system_schema
// reports, so an unchanged configuration issues no schema change at all:
// every ALTER is a cluster-wide schema change, and many processes starting
// together should not each make one.
func (r resolved) alters(ctx context.Context, s *gocql.Session, all bool) ([]string, error) {
	var out []string
	for _, m := range r.managed() {
		cur, err := readOptions(ctx, s, r.Keyspace, m.table)
		if err != nil {
			return nil, err
		}
		var clauses []string
		if m.cdc != nil && (cur.cdc == nil || all && !cdcMatches(cur.cdc, m.cdc)) {
			clauses = append(clauses, "cdc = "+mapLiteral(m.cdc))
		}
		if all && (!cur.known || cur.ttl != m.ttl) {
			clauses = append(clauses, "default_time_to_live = "+strconv.FormatInt(m.ttl, 10))
		}
		if len(clauses) > 0 {
			out = append(out, fmt.Sprintf("ALTER TABLE %s.%s WITH %s", r.Keyspace, m.table, strings.Join(clauses, " AND ")))
		}
	}
	return out, nil
}

// addColumns adds every [addedColumn] its table lacks. ScyllaDB has no
// ALTER TABLE ... ADD IF NOT EXISTS, so each column is looked up first.
func (r resolved) addColumns(ctx context.Context, s *gocql.Session) error {
	for _, c := range addedColumns() {
		typ, ok, err := columnType(ctx, s, r.Keyspace, c.table, c.name)
		if err != nil {
			return err
		}
		if !ok {
			if typ, err = r.addColumn(ctx, s, c); err != nil {
				return err
			}
		}
		if typ != c.typ {
			// Made by hand or by another program: the stores would fail
			// on it with errors far from the cause.
			return fmt.Errorf("schema: column %s of %s.%s has type %s, want %s", c.name, r.Keyspace, c.table, typ, c.typ)
		}
	}
	return nil
}

// addColumn adds c and returns the column's type. An Apply running
// concurrently may have added the column since it was looked up; the
// ALTER then fails, and the column found afterwards counts as success.
func (r resolved) addColumn(ctx context.Context, s *gocql.Session, c addedColumn) (string, error) {
	stmt := fmt.Sprintf("ALTER TABLE %s.%s ADD %s %s", r.Keyspace, c.table, c.name, c.typ)
	err := s.Query(stmt).WithContext(ctx).Exec()
	if err == nil {
		return c.typ, nil
	}
	typ, ok, rerr := columnType(ctx, s, r.Keyspace, c.table, c.name)
	if rerr != nil || !ok {
		return "", fmt.Errorf("schema: %s: %w", stmt, err)
	}
	return typ, nil
}

// columnType returns a column's type as system_schema.columns renders it,
// and whether the column exists.
func columnType(ctx context.Context, s *gocql.Session, ks, table, column string) (string, bool, error) {
	var typ string
	err := s.Query(`SELECT type FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ? AND column_name = ?`, ks, table, column).
		WithContext(ctx).Scan(&typ)
	switch {
	case errors.Is(err, gocql.ErrNotFound):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("schema: read column %s of %s.%s: %w", column, ks, table, err)
	}
	return typ, true, nil
}

type tableOptions struct {
	known bool // the table's row was found
	ttl   int64
	cdc   map[string]string // nil when unknown or disabled
}

// readOptions reads a table's default_time_to_live and CDC options.
// ScyllaDB has kept the CDC options in two places over its versions: the
// "cdc" schema extension in system_schema.tables and the cdc column of
// system_schema.scylla_tables. Both are consulted; when neither says
// anything the options count as different and Apply re-states them, which
// is harmless.
func readOptions(ctx context.Context, s *gocql.Session, ks, table string) (tableOptions, error) {
	var (
		ttl int
		ext map[string][]byte
		out tableOptions
	)
	err := s.Query(`SELECT default_time_to_live, extensions FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?`, ks, table).
		WithContext(ctx).Scan(&ttl, &ext)
	switch {
	case errors.Is(err, gocql.ErrNotFound):
		return out, nil
	case err != nil:
		return out, fmt.Errorf("schema: read options of %s.%s: %w", ks, table, err)
	}
	out.known, out.ttl = true, int64(ttl)
	if raw, ok := ext["cdc"]; ok {
		out.cdc = decodeExtensionMap(raw)
	}
	if out.cdc == nil {
		var cdc map[string]string
		// Older or newer versions may lack the column or the table; that
		// only means the extension was the place to look.
		if err := s.Query(`SELECT cdc FROM system_schema.scylla_tables WHERE keyspace_name = ? AND table_name = ?`, ks, table).
			WithContext(ctx).Scan(&cdc); err == nil && len(cdc) > 0 {
			out.cdc = cdc
		}
	}
	return out, nil
}

// decodeExtensionMap decodes ScyllaDB's serialisation of a map-valued schema
// extension: a little-endian uint32 count, then for each entry a
// length-prefixed key and value (uint32 little-endian lengths). It returns
// nil for anything malformed.
func decodeExtensionMap(b []byte) map[string]string {
	next := func() (string, bool) {
		if len(b) < 4 {
			return "", false
		}
		n := binary.LittleEndian.Uint32(b)
		b = b[4:]
		if uint64(len(b)) < uint64(n) {
			return "", false
		}
		s := string(b[:n])
		b = b[n:]
		return s, true
	}
	if len(b) < 4 {
		return nil
	}
	count := binary.LittleEndian.Uint32(b)
	b = b[4:]
	if count > uint32(len(b)/8) {
		return nil
	}
	m := make(map[string]string, count)
	for range count {
		k, ok1 := next()
		v, ok2 := next()
		if !ok1 || !ok2 {
			return nil
		}
		m[k] = v
	}
	return m
}

// cdcMatches reports whether the current CDC options have every wanted
// value. Keys ScyllaDB adds on its own (such as delta) are not compared.
func cdcMatches(cur, want map[string]string) bool {
	if cur == nil {
		return false
	}
	for k, v := range want {
		if !strings.EqualFold(cur[k], v) {
			return false
		}
	}
	return true
}
