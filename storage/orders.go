package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/gocql/gocql"
	"github.com/google/uuid"
	"github.com/scylladb/gocqlx/v2"
	"github.com/scylladb/gocqlx/v2/qb"
	"github.com/scylladb/gocqlx/v2/table"

	"github.com/scylla-outbox/scylla-outbox/domain"
)

// BucketWidth is the width of an outbox_by_bucket partition: one minute
// of commits. Changing it changes which partition a committed_at maps to,
// so writers and the polling relay must agree on it.
const BucketWidth = time.Minute

// BucketOf returns the outbox_by_bucket partition of a commit time, the
// number of whole [BucketWidth]s since the Unix epoch (its Unix minute).
// The polling relay uses it to find the partition of the committed_at it
// resumes from.
func BucketOf(t time.Time) int64 {
	const w = int64(BucketWidth / time.Second)
	sec := t.Unix()
	b := sec / w
	if sec < 0 && sec%w != 0 {
		b-- // floor, not truncation, before 1970
	}
	return b
}

type traceParentKey struct{}

// ContextWithTraceParent returns a context carrying a W3C traceparent
// header value. [OrderStore.Save] stores it with every event it writes, and
// the relay copies it into the Kafka headers, linking the publish to the
// request that caused the change. Save's signature stays free of tracing
// concerns this way.
func ContextWithTraceParent(ctx context.Context, traceParent string) context.Context {
	return context.WithValue(ctx, traceParentKey{}, traceParent)
}

// TraceParentFromContext returns the value set by [ContextWithTraceParent],
// or "".
func TraceParentFromContext(ctx context.Context) string {
	s, _ := ctx.Value(traceParentKey{}).(string)
	return s
}

// OrderStoreOptions configure an [OrderStore].
type OrderStoreOptions struct {
	// Keyspace qualifies the table names. Empty means the session's
	// default keyspace ([Config.Keyspace]).
	Keyspace string
	// Clock chooses the outbox_by_bucket partition of a Save ([BucketOf]
	// of its reading) and the orders row's write timestamp (see
	// [OrderStore.Save]); default time.Now. committed_at and the outbox
	// rows' write timestamps are the server's.
	Clock func() time.Time
}

// cql is a built statement with its bind names.
type cql struct {
	stmt  string
	names []string
}

// OrderStore is the repository of order aggregates: it loads orders and
// saves each change together with its outbox events, and it manages the
// per-order leases that make one process the single writer of an order.
// It is safe for concurrent use.
type OrderStore struct {
	s     gocqlx.Session
	clock func() time.Time
	// lastStamp is the latest orders row write timestamp (µs) this store
	// wrote or loaded.
	lastStamp atomic.Int64
	err       error // invalid options; returned by every method

	getOrder     cql
	insertOrder  cql
	insertOutbox cql
	insertBucket cql

	leaseAcquire cql
	leaseRenew   cql
	leaseTake    cql
	leaseRelease cql
}

// NewOrderStore returns a store over s. Invalid options do not panic: every
// method then returns the validation error, which names the option.
func NewOrderStore(s gocqlx.Session, o OrderStoreOptions) *OrderStore {
	st := &OrderStore{s: s, clock: o.Clock}
	if st.clock == nil {
		st.clock = time.Now
	}
	if o.Keyspace != "" && !keyspaceName.MatchString(o.Keyspace) {
		st.err = fmt.Errorf("storage: OrderStoreOptions.Keyspace %q must be a lower-case CQL identifier", o.Keyspace)
		return st
	}
	ks := o.Keyspace
	orders := ordersTable(ks)
	st.getOrder.stmt, st.getOrder.names = qb.Select(orders.Name()).
		Columns(append(slices.Clone(orders.Metadata().Columns), qb.As("WRITETIME(version)", "stamp"))...).
		Where(qb.Eq("id")).ToCql()
	st.insertOrder.stmt, st.insertOrder.names = orders.Insert()
	// The order row keeps a client timestamp (the rest of the batch is
	// stamped by the server): a batch delayed in the network beyond its
	// timeout and applied after a later version must not roll the row back.
	st.insertOrder.stmt += " USING TIMESTAMP ?"
	st.insertOutbox = insertCommittedNow(outboxTable(ks))
	st.insertBucket = insertCommittedNow(outboxByBucketTable(ks))
	st.initLeases(ks)
	return st
}

// insertCommittedNow returns an INSERT of t's columns that sets
// committed_at to the server's now() instead of a bound value.
func insertCommittedNow(t *table.Table) cql {
	cols := slices.DeleteFunc(slices.Clone(t.Metadata().Columns), func(c string) bool { return c == "committed_at" })
	stmt, names := qb.Insert(t.Name()).Columns(cols...).FuncColumn("committed_at", qb.Now()).ToCql()
	return cql{stmt: stmt, names: names}
}

// Load returns the order with the given id, rebuilt with
// [domain.Rehydrate]. A missing order is [ErrNotFound]; a row that does not
// rebuild is [ErrCorruptOrder] (also wrapping the cause, such as a
// *domain.ValidationError).
func (st *OrderStore) Load(ctx context.Context, id uuid.UUID) (*domain.Order, error) {
	if st.err != nil {
		return nil, st.err
	}
	var row storedOrderRow
	err := st.s.ContextQuery(ctx, st.getOrder.stmt, st.getOrder.names).
		BindMap(map[string]any{"id": id}).GetRelease(&row)
	switch {
	case errors.Is(err, gocql.ErrNotFound):
		return nil, fmt.Errorf("storage: load order %s: %w", id, ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("storage: load order %s: %w", id, err)
	}
	st.observeStamp(row.Stamp)
	o, err := row.order()
	if err != nil {
		return nil, fmt.Errorf("storage: load order %s: %w: %w", id, ErrCorruptOrder, err)
	}
	return o, nil
}

func (r orderRow) order() (*domain.Order, error) {
	var items []itemJSON
	if err := json.Unmarshal([]byte(r.Items), &items); err != nil {
		return nil, fmt.Errorf("items: %w", err)
	}
	status, err := domain.ParseStatus(r.Status)
	if err != nil {
		return nil, err
	}
	s := domain.OrderState{
		ID:         r.ID,
		CustomerID: r.CustomerID,
		Items:      make([]domain.Item, len(items)),
		Status:     status,
		Version:    r.Version,
		CreatedAt:  r.CreatedAt,
		UpdatedAt:  r.UpdatedAt,
	}
	for i, it := range items {
		s.Items[i] = domain.Item{
			ProductID: it.ProductID,
			Quantity:  it.Quantity,
			UnitPrice: domain.Money{Minor: it.UnitPriceMinor, Currency: it.Currency},
		}
	}
	return domain.Rehydrate(s)
}

func newOrderRow(o *domain.Order) (orderRow, error) {
	s := o.State()
	items := make([]itemJSON, len(s.Items))
	for i, it := range s.Items {
		items[i] = itemJSON{ProductID: it.ProductID, Quantity: it.Quantity, UnitPriceMinor: it.UnitPrice.Minor, Currency: it.UnitPrice.Currency}
	}
	b, err := json.Marshal(items)
	if err != nil {
		return orderRow{}, fmt.Errorf("storage: encode items of order %s: %w", s.ID, err)
	}
	total := o.Total()
	return orderRow{
		ID:         s.ID,
		CustomerID: s.CustomerID,
		Items:      string(b),
		Currency:   total.Currency,
		TotalMinor: total.Minor,
		Status:     s.Status.String(),
		Version:    s.Version,
		CreatedAt:  s.CreatedAt,
		UpdatedAt:  s.UpdatedAt,
	}, nil
}

// Save writes the order's current state and its new events in ONE logged
// batch: the orders row, and for every event an outbox_messages row (which
// the CDC relay publishes) and an outbox_by_bucket row (which the polling
// relay reads). ScyllaDB applies a logged batch entirely or not at all, so
// a state change is never stored without its events or the reverse.
//
// events are the events of the transitions that led to o's current state,
// oldest first: at least one, all of o's aggregate, with consecutive
// sequences ending at o.Version(), and distinct event ids. Anything else is
// [ErrInvalidSave] (or the envelope's *domain.ValidationError) and nothing
// is written. The trace parent comes from ctx ([ContextWithTraceParent]).
//
// Times are the server's, so that they say when the batch was applied, not
// when this process built it: the batch carries no client timestamp (the
// coordinator stamps it, and the CDC log's cdc$time follows), and every
// committed_at is CQL now() (a distinct timeuuid per row, of the moment the
// server applied the batch). The outbox_by_bucket partition, though, must
// be named by the client: bucket is [BucketOf] the store's clock when Save
// starts. A row's committed_at may therefore fall in the minute after the
// one its bucket names (or, with a clock running ahead of the server's,
// before it), by at most the clock skew between writer and server plus the
// time the batch took; a polling reader scans one bucket further back than
// its committed_at bound to cover that.
//
// The batch is not conditional (ScyllaDB allows conditions only in
// single-partition batches, and this one spans three tables), so Save
// trusts the caller to be the order's single writer: hold the order's lease
// ([OrderStore.AcquireLease]) and stop writing once renewing it fails.
//
// A database failure is a [*BatchError]; see [BatchError.MaybeApplied] for
// when a retry is needed and safe.
func (st *OrderStore) Save(ctx context.Context, o *domain.Order, events ...domain.DomainEvent) error {
	if st.err != nil {
		return st.err
	}
	if o == nil {
		return fmt.Errorf("%w: nil order", ErrInvalidSave)
	}
	if err := checkEvents(o, events); err != nil {
		return err
	}
	order, err := newOrderRow(o)
	if err != nil {
		return err
	}
	now := st.clock()
	bucket := BucketOf(now)
	stamp := st.nextStamp(now)
	trace := TraceParentFromContext(ctx)
	rows := make([]outboxRow, len(events))
	for i, e := range events {
		env, err := domain.NewEnvelope(e)
		if err != nil {
			return fmt.Errorf("storage: save order %s: event %d: %w", o.ID(), i, err)
		}
		rows[i] = outboxRow{
			Bucket:        bucket,
			AggregateID:   env.AggregateID,
			Sequence:      env.Sequence,
			EventID:       env.EventID,
			AggregateType: env.AggregateType,
			EventType:     env.EventType,
			Payload:       env.Payload,
			ContentType:   env.ContentType,
			TraceParent:   trace,
			OccurredAt:    env.OccurredAt,
		}
	}
	return st.saveBatch(ctx, order, rows, stamp)
}

// nextStamp returns the order row's write timestamp (µs): now, but strictly
// after every one this store returned or loaded before, so that a clock that
// stepped back (or stands still, in tests), or a previous writer's clock
// running ahead of this one, cannot order a later version of a row before an
// earlier one.
func (st *OrderStore) nextStamp(now time.Time) int64 {
	for {
		last := st.lastStamp.Load()
		next := max(now.UnixMicro(), last+1)
		if st.lastStamp.CompareAndSwap(last, next) {
			return next
		}
	}
}

// observeStamp makes every later stamp follow a loaded row's: a writer
// builds each version on the row it loaded, so the row it writes must
// supersede that one whatever the two writers' clocks say (a Lamport clock
// over the orders rows).
func (st *OrderStore) observeStamp(stamp int64) {
	for {
		last := st.lastStamp.Load()
		if stamp <= last || st.lastStamp.CompareAndSwap(last, stamp) {
			return
		}
	}
}

// checkEvents enforces Save's contract on events before anything is built.
func checkEvents(o *domain.Order, events []domain.DomainEvent) error {
	id := o.ID()
	if len(events) == 0 {
		// Every transition emits an event; a state saved without one
		// would be a change consumers never hear about.
		return fmt.Errorf("%w: order %s version %d: no events", ErrInvalidSave, id, o.Version())
	}
	first := o.Version() - int64(len(events)) + 1
	seen := make(map[uuid.UUID]bool, len(events))
	for i, e := range events {
		switch {
		case e == nil:
			return fmt.Errorf("%w: order %s: event %d is nil", ErrInvalidSave, id, i)
		case e.AggregateID() != id || e.AggregateType() != domain.AggregateTypeOrder:
			return fmt.Errorf("%w: order %s: event %d (%s) belongs to %s %s", ErrInvalidSave, id, i, e.EventType(), e.AggregateType(), e.AggregateID())
		case e.Sequence() != first+int64(i):
			return fmt.Errorf("%w: order %s version %d: event %d (%s) has sequence %d, want %d (events must be consecutive and end at the order's version)",
				ErrInvalidSave, id, o.Version(), i, e.EventType(), e.Sequence(), first+int64(i))
		case seen[e.EventID()]:
			// Two events with one id would collide in outbox_by_bucket,
			// and consumers would drop the second as a duplicate.
			return fmt.Errorf("%w: order %s: event %d repeats event id %s", ErrInvalidSave, id, i, e.EventID())
		}
		seen[e.EventID()] = true
	}
	return nil
}

// saveBatch writes the order row (with the writer's timestamp writtenAt, µs)
// and, per outbox row, one outbox_messages and one outbox_by_bucket row
// (stamped by the server) in one logged batch.
// The rows' CommittedAt is not sent: the statements set now(). It does not
// validate: Save does, and the batch-atomicity test needs rows the database
// itself rejects.
func (st *OrderStore) saveBatch(ctx context.Context, order orderRow, rows []outboxRow, writtenAt int64) error {
	fail := func(err error) error {
		return &BatchError{OrderID: order.ID, Version: order.Version, Events: len(rows), Err: err}
	}
	// Without the default-timestamp flag the driver sends no write
	// timestamp and the coordinator stamps the batch when it applies it.
	b := st.s.Session.BatchWithContext(ctx, gocql.LoggedBatch).DefaultTimestamp(false)
	// Bind failures are bugs in this package, not batch failures: they
	// are returned plainly so MaybeApplied never misreads them.
	args, err := bindStruct(st.s, st.insertOrder.names, order)
	if err != nil {
		return err
	}
	b.Query(st.insertOrder.stmt, append(args, writtenAt)...)
	for i := range rows {
		for _, q := range []cql{st.insertOutbox, st.insertBucket} {
			args, err := bindStruct(st.s, q.names, &rows[i])
			if err != nil {
				return err
			}
			b.Query(q.stmt, args...)
		}
	}
	if err := st.s.ExecuteBatch(b); err != nil {
		return fail(err)
	}
	return nil
}
