package storage

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gocql/gocql"
	"github.com/google/uuid"
	"github.com/scylladb/gocqlx/v2"

	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/polling"
	"github.com/scylla-outbox/scylla-outbox/schema"
)

// PollingStore is what the polling relay reads and writes: the time-ordered
// outbox_by_bucket layout (read one minute-bucket partition at a time, never
// with ALLOW FILTERING), its persisted cursor, and the event ids it has
// finished with the minutes of commit time they fall in, both by relay
// name.
type PollingStore struct {
	s        gocqlx.Session
	byBucket string
	cursor   string
	finished string
}

// NewPollingStore returns a store for the keyspace.
func NewPollingStore(s gocqlx.Session, keyspace string) *PollingStore {
	return &PollingStore{s: s,
		byBucket: qualified(keyspace, schema.TableOutboxByBucket),
		cursor:   qualified(keyspace, schema.TableRelayCursor),
		finished: qualified(keyspace, schema.TableRelayFinished)}
}

// Scan calls fn for the events committed after `after` and no later than
// `until`, bucket by bucket in commit order, stopping early when fn returns
// false. The bound is inclusive of after's millisecond: callers re-reading a
// window deduplicate by event id. A writer picks a row's bucket from its own
// clock before it sends the batch, and the server stamps committed_at when
// it applies it, so the two differ by the time the save took (prepares,
// retries, queueing) plus the skew between the writer's clock and the
// server's, either way: a row can sit in the bucket before its committed_at's
// minute (a slow save, a writer clock behind) or in the bucket after it (a
// writer clock ahead). Scan reads both neighbours of the window's buckets,
// which covers every row whose writer and server disagree by less than
// BucketWidth.
func (st *PollingStore) Scan(ctx context.Context, after, until time.Time, fn func(outbox.Record) bool) error {
	stmt := `SELECT committed_at, event_id, aggregate_id, sequence, aggregate_type, event_type, payload, content_type, trace_parent, occurred_at FROM ` +
		st.byBucket + ` WHERE bucket = ? AND committed_at >= ? AND committed_at <= ?`
	lo, hi := gocql.MinTimeUUID(after), gocql.MaxTimeUUID(until)
	for b := BucketOf(after.Add(-BucketWidth)); b <= BucketOf(until.Add(BucketWidth)); b++ {
		iter := st.s.Session.Query(stmt, b, lo, hi).WithContext(ctx).PageSize(1000).Iter()
		var committed gocql.UUID
		var rec outbox.Record
		for iter.Scan(&committed, &rec.EventID, &rec.AggregateID, &rec.Sequence, &rec.AggregateType, &rec.EventType,
			&rec.Payload, &rec.ContentType, &rec.TraceParent, &rec.OccurredAt) {
			rec.CommittedAt = committed.Time()
			if err := rec.Validate(); err != nil {
				rec.Malformed = &outbox.Malformed{Reason: err.Error(), Raw: rawRow(b, committed, rec)}
			}
			if !fn(rec) {
				return iter.Close()
			}
			rec = outbox.Record{}
		}
		if err := iter.Close(); err != nil {
			return fmt.Errorf("storage: scan bucket %d: %w", b, err)
		}
	}
	return nil
}

// Keys calls fn with the commit time and event id of the events committed
// in [after, before), bucket by bucket in commit order, stopping early when
// fn returns false: a re-read of rows the caller has read before, without
// the columns it already has. Buckets are read as in Scan.
func (st *PollingStore) Keys(ctx context.Context, after, before time.Time, fn func(committed time.Time, id uuid.UUID) bool) error {
	stmt := `SELECT committed_at, event_id FROM ` + st.byBucket + ` WHERE bucket = ? AND committed_at >= ? AND committed_at < ?`
	lo, hi := gocql.MinTimeUUID(after), gocql.MinTimeUUID(before)
	for b := BucketOf(after.Add(-BucketWidth)); b <= BucketOf(before.Add(BucketWidth)); b++ {
		iter := st.s.Session.Query(stmt, b, lo, hi).WithContext(ctx).PageSize(5000).Iter()
		var committed gocql.UUID
		var id uuid.UUID
		for iter.Scan(&committed, &id) {
			if !fn(committed.Time(), id) {
				return iter.Close()
			}
		}
		if err := iter.Close(); err != nil {
			return fmt.Errorf("storage: re-read keys of bucket %d: %w", b, err)
		}
	}
	return nil
}

// rawRow renders a scanned outbox_by_bucket row for the dead-letter queue.
// A null column scans as its zero value and shows as such.
func rawRow(bucket int64, committed gocql.UUID, rec outbox.Record) map[string]string {
	return map[string]string{
		"bucket":         strconv.FormatInt(bucket, 10),
		"committed_at":   committed.String(),
		"event_id":       rec.EventID.String(),
		"aggregate_id":   rec.AggregateID.String(),
		"sequence":       strconv.FormatInt(rec.Sequence, 10),
		"aggregate_type": rec.AggregateType,
		"event_type":     rec.EventType,
		"payload":        "0x" + hex.EncodeToString(rec.Payload),
		"content_type":   rec.ContentType,
		"trace_parent":   rec.TraceParent,
		"occurred_at":    rec.OccurredAt.UTC().Format(time.RFC3339Nano),
	}
}

// Cursor returns the saved position of the named relay.
func (st *PollingStore) Cursor(ctx context.Context, name string) (time.Time, bool, error) {
	var at gocql.UUID
	err := st.s.Session.Query(`SELECT committed_at FROM `+st.cursor+` WHERE name = ?`, name).WithContext(ctx).Scan(&at)
	if errors.Is(err, gocql.ErrNotFound) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("storage: relay cursor %q: %w", name, err)
	}
	return at.Time(), true, nil
}

// SaveCursor records that every event committed up to at is finished.
func (st *PollingStore) SaveCursor(ctx context.Context, name string, at time.Time) error {
	err := st.s.Session.Query(`INSERT INTO `+st.cursor+` (name, bucket, committed_at, updated_at) VALUES (?, ?, ?, ?)`,
		name, BucketOf(at), gocql.MinTimeUUID(at), time.Now()).WithContext(ctx).Exec()
	if err != nil {
		return fmt.Errorf("storage: save relay cursor %q: %w", name, err)
	}
	return nil
}

// MarkFinished remembers events the named relay finished (for its re-read
// window), in unlogged batches: the rows are independent and losing one
// costs at most a duplicate, never an event.
func (st *PollingStore) MarkFinished(ctx context.Context, name string, ids ...uuid.UUID) error {
	now := time.Now()
	stmt := `INSERT INTO ` + st.finished + ` (relay_name, event_id, finished_at) VALUES (?, ?, ?)`
	for start := 0; start < len(ids); start += 100 {
		b := st.s.Session.BatchWithContext(ctx, gocql.UnloggedBatch)
		for _, id := range ids[start:min(start+100, len(ids))] {
			b.Query(stmt, name, id, now)
		}
		if err := st.s.ExecuteBatch(b); err != nil {
			return fmt.Errorf("storage: mark %d events finished by %q: %w", len(ids), name, err)
		}
	}
	return nil
}

// MarkMinutes records that the named relay marks finished events committed
// in the minutes ms, before it writes those marks: Finished lookups for
// events of a minute that holds none can be skipped. Each minute is a row
// of relay_finished under an event id no event has (a name-based UUID),
// expiring with the marks.
func (st *PollingStore) MarkMinutes(ctx context.Context, name string, ms []polling.Minute) error {
	ids := make([]uuid.UUID, len(ms))
	for i, m := range ms {
		ids[i] = minuteID(m)
	}
	if err := st.MarkFinished(ctx, name, ids...); err != nil {
		return fmt.Errorf("storage: record %d minutes marked by %q: %w", len(ms), name, err)
	}
	return nil
}

// MarkedMinutes returns which of ms the named relay recorded with
// MarkMinutes.
func (st *PollingStore) MarkedMinutes(ctx context.Context, name string, ms []polling.Minute) (map[polling.Minute]bool, error) {
	byID := make(map[uuid.UUID]polling.Minute, len(ms))
	ids := make([]uuid.UUID, len(ms))
	for i, m := range ms {
		ids[i] = minuteID(m)
		byID[ids[i]] = m
	}
	found, err := st.Finished(ctx, name, ids)
	if err != nil {
		return nil, fmt.Errorf("storage: minutes marked by %q: %w", name, err)
	}
	out := make(map[polling.Minute]bool, len(found))
	for id := range found {
		out[byID[id]] = true
	}
	return out, nil
}

// KeepMinutes records that every mark of the named relay a later run may
// read again lies in a minute recorded with MarkMinutes: marks written by
// a version that did not record minutes are all covered. Its row expires
// with the marks, so the relay writes it again with the minutes it
// records.
func (st *PollingStore) KeepMinutes(ctx context.Context, name string) error {
	if err := st.MarkFinished(ctx, name, minutesKeptID()); err != nil {
		return fmt.Errorf("storage: record that %q keeps minutes: %w", name, err)
	}
	return nil
}

// MinutesKept reports whether KeepMinutes was recorded for the named relay
// (and has not expired).
func (st *PollingStore) MinutesKept(ctx context.Context, name string) (bool, error) {
	id := minutesKeptID()
	found, err := st.Finished(ctx, name, []uuid.UUID{id})
	if err != nil {
		return false, fmt.Errorf("storage: whether %q keeps minutes: %w", name, err)
	}
	return found[id], nil
}

// minuteID is the relay_finished event id that stands for a minute: a
// version 5 UUID, which no event id is.
func minuteID(m polling.Minute) uuid.UUID {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte("scylla-outbox.relay_finished.minute."+strconv.FormatInt(int64(m), 10)))
}

// minutesKeptID is the relay_finished event id of KeepMinutes' row.
func minutesKeptID() uuid.UUID {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte("scylla-outbox.relay_finished.minutes-kept"))
}

// Finished returns which of ids the named relay marked finished.
func (st *PollingStore) Finished(ctx context.Context, name string, ids []uuid.UUID) (map[uuid.UUID]bool, error) {
	out := make(map[uuid.UUID]bool, len(ids))
	for start := 0; start < len(ids); start += 100 {
		chunk := ids[start:min(start+100, len(ids))]
		iter := st.s.Session.Query(`SELECT event_id FROM `+st.finished+` WHERE relay_name = ? AND event_id IN ?`, name, chunk).WithContext(ctx).Iter()
		var id uuid.UUID
		for iter.Scan(&id) {
			out[id] = true
		}
		if err := iter.Close(); err != nil {
			return nil, fmt.Errorf("storage: finished lookup for %q: %w", name, err)
		}
	}
	return out, nil
}
