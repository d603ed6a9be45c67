package storage

import (
	"fmt"
	"reflect"
	"time"

	"github.com/gocql/gocql"
	"github.com/google/uuid"
	"github.com/scylladb/gocqlx/v2"
	"github.com/scylladb/gocqlx/v2/table"

	"github.com/scylla-outbox/scylla-outbox/schema"
)

// The table models mirror schema/cql; names come from package schema so the
// two cannot drift apart silently (a column mismatch fails the tests).

func qualified(keyspace, name string) string {
	if keyspace == "" {
		return name
	}
	return keyspace + "." + name
}

func ordersTable(ks string) *table.Table {
	return table.New(table.Metadata{
		Name:    qualified(ks, schema.TableOrders),
		Columns: []string{"id", "customer_id", "items", "currency", "total_minor", "status", "version", "created_at", "updated_at"},
		PartKey: []string{"id"},
	})
}

var outboxColumns = []string{"aggregate_id", "sequence", "event_id", "aggregate_type", "event_type",
	"payload", "content_type", "trace_parent", "occurred_at", "committed_at"}

func outboxTable(ks string) *table.Table {
	return table.New(table.Metadata{
		Name:    qualified(ks, schema.TableOutboxMessages),
		Columns: outboxColumns,
		PartKey: []string{"aggregate_id"},
		SortKey: []string{"sequence"},
	})
}

func outboxByBucketTable(ks string) *table.Table {
	return table.New(table.Metadata{
		Name:    qualified(ks, schema.TableOutboxByBucket),
		Columns: append([]string{"bucket"}, outboxColumns...),
		PartKey: []string{"bucket"},
		SortKey: []string{"committed_at", "event_id"},
	})
}

// orderRow is a row of orders.
type orderRow struct {
	ID         uuid.UUID `db:"id"`
	CustomerID uuid.UUID `db:"customer_id"`
	Items      string    `db:"items"` // JSON array of itemJSON
	Currency   string    `db:"currency"`
	TotalMinor int64     `db:"total_minor"`
	Status     string    `db:"status"`
	Version    int64     `db:"version"`
	CreatedAt  time.Time `db:"created_at"`
	UpdatedAt  time.Time `db:"updated_at"`
}

// storedOrderRow is an orders row as Load reads it, with the write
// timestamp (µs) of its latest version.
type storedOrderRow struct {
	orderRow
	Stamp int64 `db:"stamp"`
}

// itemJSON is one element of orders.items. It matches the items of the
// event payloads, so a row and its latest event read alike.
type itemJSON struct {
	ProductID      string `json:"product_id"`
	Quantity       int    `json:"quantity"`
	UnitPriceMinor int64  `json:"unit_price_minor"`
	Currency       string `json:"currency"`
}

// outboxRow is a row of outbox_messages and, with Bucket, of
// outbox_by_bucket: both tables carry the same event.
type outboxRow struct {
	Bucket        int64      `db:"bucket"`
	AggregateID   uuid.UUID  `db:"aggregate_id"`
	Sequence      int64      `db:"sequence"`
	EventID       uuid.UUID  `db:"event_id"`
	AggregateType string     `db:"aggregate_type"`
	EventType     string     `db:"event_type"`
	Payload       []byte     `db:"payload"`
	ContentType   string     `db:"content_type"`
	TraceParent   string     `db:"trace_parent"`
	OccurredAt    time.Time  `db:"occurred_at"`
	CommittedAt   gocql.UUID `db:"committed_at"`
}

// leaseRow is a row of order_leases, as a failed LWT returns it.
type leaseRow struct {
	OrderID uuid.UUID `db:"order_id"`
	Owner   string    `db:"owner"`
}

// bindStruct returns the values of arg's fields named by names, in order,
// for positional binding into a batch entry (gocql batches take values, not
// gocqlx named binds). The all-zero UUID binds as NULL: it is never a
// meaningful id here, and NULL makes the database reject a missing key
// instead of storing a row under a bogus one.
func bindStruct(s gocqlx.Session, names []string, arg any) ([]any, error) {
	m := s.Mapper
	if m == nil {
		m = gocqlx.DefaultMapper
	}
	v := reflect.Indirect(reflect.ValueOf(arg))
	out := make([]any, len(names))
	for i, path := range m.TraversalsByName(v.Type(), names) {
		if len(path) == 0 {
			return nil, fmt.Errorf("storage: bind %T: no field for column %q", arg, names[i])
		}
		val := v.FieldByIndex(path).Interface()
		switch u := val.(type) {
		case uuid.UUID:
			if u == uuid.Nil {
				val = nil
			}
		case gocql.UUID:
			if u == (gocql.UUID{}) {
				val = nil
			}
		}
		out[i] = val
	}
	return out, nil
}
