package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gocql/gocql"
	"github.com/scylladb/gocqlx/v2"

	"github.com/scylla-outbox/scylla-outbox/cdc"
	"github.com/scylla-outbox/scylla-outbox/leader"
	"github.com/scylla-outbox/scylla-outbox/schema"
)

// RelayProgress keeps the fenced state of every relay name in
// relay_progress, one partition per name: the leader's epoch and identity,
// and what the active relay has saved — the CDC reader's generation, read
// start and per-stream progress, the polling relay's cursor. Taking the
// next epoch is a compare-and-set, and every progress write is a
// lightweight transaction conditional on the writer's epoch, so a relay
// that another one has replaced (a zombie resumed after a pause) has its
// writes rejected with [leader.ErrFenced] instead of moving the new
// leader's progress.
//
// Progress saved before relay_progress existed (scylla-cdc-go's
// cdc_progress rows, relay_cursor) is read where relay_progress has none,
// so an upgraded relay resumes where the old one stopped.
type RelayProgress struct {
	s        gocqlx.Session
	table    string
	ttl      int
	legacy   string // cdc_progress
	cursor   string // relay_cursor
	cdcTable string // the table name scylla-cdc-go saved progress under
}

// RelayProgressOptions tune a RelayProgress.
type RelayProgressOptions struct {
	// StreamTTL expires saved per-stream CDC progress, so the rows of
	// generations long finished disappear. Default DefaultStreamProgressTTL.
	StreamTTL time.Duration
}

// DefaultStreamProgressTTL is scylla-cdc-go's own expiry of stream progress.
const DefaultStreamProgressTTL = 7 * 24 * time.Hour

// NewRelayProgress returns the store for the keyspace.
func NewRelayProgress(s gocqlx.Session, keyspace string, o RelayProgressOptions) *RelayProgress {
	if o.StreamTTL <= 0 {
		o.StreamTTL = DefaultStreamProgressTTL
	}
	return &RelayProgress{s: s,
		table:    qualified(keyspace, schema.TableRelayProgress),
		ttl:      int(o.StreamTTL / time.Second),
		legacy:   qualified(keyspace, schema.TableCDCProgress),
		cursor:   qualified(keyspace, schema.TableRelayCursor),
		cdcTable: keyspace + "." + schema.TableOutboxMessages,
	}
}

// Leader returns the recorded holder of relay.
func (p *RelayProgress) Leader(ctx context.Context, relay string) (leader.Holder, error) {
	var info leader.Holder
	var epoch *int64
	var member *string
	var since *time.Time
	err := p.s.Session.Query(`SELECT epoch, leader, leader_since FROM `+p.table+` WHERE relay = ? LIMIT 1`, relay).
		WithContext(ctx).Scan(&epoch, &member, &since)
	if errors.Is(err, gocql.ErrNotFound) {
		return info, nil
	}
	if err != nil {
		return info, fmt.Errorf("storage: leader of relay %q: %w", relay, err)
	}
	if epoch != nil {
		info.Epoch = leader.Epoch(*epoch)
	}
	if member != nil {
		info.Member = *member
	}
	if since != nil {
		info.Since = *since
	}
	return info, nil
}

// maxAcquireRounds bounds Acquire's compare-and-set rounds: each lost
// round means another relay took an epoch in between, which a working
// election makes rare.
const maxAcquireRounds = 10

// Acquire takes the next epoch of relay for member: one above every epoch
// taken before, by compare-and-set, so no two relays ever hold the same
// epoch, and the writes of every earlier holder are fenced from now on.
func (p *RelayProgress) Acquire(ctx context.Context, relay, member string) (leader.Epoch, error) {
	info, err := p.Leader(ctx, relay)
	if err != nil {
		return 0, err
	}
	current := info.Epoch
	for range maxAcquireRounds {
		var cond any
		if current != 0 {
			cond = int64(current)
		}
		prev := map[string]any{}
		applied, err := p.s.Session.Query(`UPDATE `+p.table+` SET epoch = ?, leader = ?, leader_since = ? WHERE relay = ? IF epoch = ?`,
			int64(current+1), member, time.Now(), relay, cond).WithContext(ctx).MapScanCAS(prev)
		if err != nil {
			return 0, fmt.Errorf("storage: take epoch %d of relay %q: %w", current+1, relay, err)
		}
		if applied {
			return current + 1, nil
		}
		held, _ := prev["epoch"].(int64)
		current = leader.Epoch(held)
	}
	return 0, fmt.Errorf("storage: take an epoch of relay %q: lost %d rounds to other relays", relay, maxAcquireRounds)
}

// Fenced returns relay's progress as written under epoch: every write
// fails with [leader.ErrFenced] once a later epoch has been taken.
func (p *RelayProgress) Fenced(relay string, epoch leader.Epoch) *FencedProgress {
	return &FencedProgress{p: p, relay: relay, epoch: epoch}
}

// FencedProgress is one relay's progress under one epoch. It is the CDC
// reader's [cdc.ProgressStore] (generation, read start, per-stream
// progress) and the polling relay's cursor.
type FencedProgress struct {
	p     *RelayProgress
	relay string
	epoch leader.Epoch
}

// Epoch is the epoch its writes are conditional on.
func (f *FencedProgress) Epoch() leader.Epoch { return f.epoch }

// streamBatch bounds the statements of one conditional batch, well below
// ScyllaDB's batch size warning.
const streamBatch = 100

// SaveStreams saves stream positions, in conditional batches of at most
// streamBatch rows: each batch is applied whole or not at all.
func (f *FencedProgress) SaveStreams(ctx context.Context, positions []cdc.StreamPosition) error {
	for start := 0; start < len(positions); start += streamBatch {
		chunk := positions[start:min(start+streamBatch, len(positions))]
		b := f.p.s.Session.BatchWithContext(ctx, gocql.LoggedBatch)
		for i, pos := range chunk {
			stmt := `UPDATE ` + f.p.table + ` USING TTL ? SET last_timestamp = ? WHERE relay = ? AND generation = ? AND stream_id = ?`
			args := []any{f.p.ttl, pos.At, f.relay, pos.Generation, pos.Stream}
			if i == 0 {
				stmt += ` IF epoch = ?`
				args = append(args, int64(f.epoch))
			}
			b.Query(stmt, args...)
		}
		if err := f.cas(b, fmt.Sprintf("save the progress of %d CDC streams", len(chunk))); err != nil {
			return err
		}
	}
	return nil
}

// StreamProgress returns where a stream of generation gen was read to;
// the zero UUID if nowhere yet.
func (f *FencedProgress) StreamProgress(ctx context.Context, gen time.Time, stream []byte) (gocql.UUID, error) {
	var at gocql.UUID
	err := f.p.s.Session.Query(`SELECT last_timestamp FROM `+f.p.table+` WHERE relay = ? AND generation = ? AND stream_id = ?`,
		f.relay, gen, stream).WithContext(ctx).Scan(&at)
	if errors.Is(err, gocql.ErrNotFound) {
		err = f.p.s.Session.Query(`SELECT last_timestamp FROM `+f.p.legacy+` WHERE generation = ? AND application_name = ? AND table_name = ? AND stream_id = ?`,
			gen, f.relay, f.p.cdcTable, stream).WithContext(ctx).Scan(&at)
		if errors.Is(err, gocql.ErrNotFound) {
			return gocql.UUID{}, nil
		}
	}
	if err != nil {
		return gocql.UUID{}, fmt.Errorf("storage: progress of CDC stream %x of relay %q: %w", stream, f.relay, err)
	}
	return at, nil
}

// CurrentGeneration returns the CDC generation the relay reads, zero if
// none was started.
func (f *FencedProgress) CurrentGeneration(ctx context.Context) (time.Time, error) {
	gen, err := f.static(ctx, "cdc_generation", "current_generation")
	if err != nil {
		return time.Time{}, fmt.Errorf("storage: CDC generation of relay %q: %w", f.relay, err)
	}
	return gen, nil
}

// StartGeneration records gen as the CDC generation to resume from.
func (f *FencedProgress) StartGeneration(ctx context.Context, gen time.Time) error {
	q := f.p.s.Session.Query(`UPDATE `+f.p.table+` SET cdc_generation = ? WHERE relay = ? IF epoch = ?`, gen, f.relay, int64(f.epoch)).WithContext(ctx)
	return f.casQuery(q, "start CDC generation "+gen.UTC().Format(time.RFC3339Nano))
}

// ReadStartTime returns when the relay started reading (cdc.start_from),
// zero if it was never saved.
func (f *FencedProgress) ReadStartTime(ctx context.Context) (time.Time, error) {
	start, err := f.static(ctx, "read_start", "")
	if err != nil {
		return time.Time{}, fmt.Errorf("storage: read start of relay %q: %w", f.relay, err)
	}
	if start.IsZero() {
		var at gocql.UUID
		err := f.p.s.Session.Query(`SELECT last_timestamp FROM `+f.p.legacy+` WHERE generation = ? AND application_name = ? AND table_name = ? AND stream_id = ?`,
			time.Time{}, f.relay, "", []byte{}).WithContext(ctx).Scan(&at)
		switch {
		case errors.Is(err, gocql.ErrNotFound):
		case err != nil:
			return time.Time{}, fmt.Errorf("storage: read start of relay %q: %w", f.relay, err)
		case at != gocql.UUID{}:
			start = at.Time()
		}
	}
	return start, nil
}

// SaveReadStartTime records when the relay started reading.
func (f *FencedProgress) SaveReadStartTime(ctx context.Context, start time.Time) error {
	q := f.p.s.Session.Query(`UPDATE `+f.p.table+` SET read_start = ? WHERE relay = ? IF epoch = ?`, start, f.relay, int64(f.epoch)).WithContext(ctx)
	return f.casQuery(q, "save the read start")
}

// Cursor returns the polling relay's saved position, if any.
func (f *FencedProgress) Cursor(ctx context.Context) (time.Time, bool, error) {
	var at *gocql.UUID
	err := f.p.s.Session.Query(`SELECT cursor_at FROM `+f.p.table+` WHERE relay = ? LIMIT 1`, f.relay).WithContext(ctx).Scan(&at)
	if err != nil && !errors.Is(err, gocql.ErrNotFound) {
		return time.Time{}, false, fmt.Errorf("storage: cursor of relay %q: %w", f.relay, err)
	}
	if at != nil {
		return at.Time(), true, nil
	}
	var legacy gocql.UUID
	err = f.p.s.Session.Query(`SELECT committed_at FROM `+f.p.cursor+` WHERE name = ?`, f.relay).WithContext(ctx).Scan(&legacy)
	if errors.Is(err, gocql.ErrNotFound) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("storage: cursor of relay %q: %w", f.relay, err)
	}
	return legacy.Time(), true, nil
}

// SaveCursor records that every event committed up to at is finished.
func (f *FencedProgress) SaveCursor(ctx context.Context, at time.Time) error {
	q := f.p.s.Session.Query(`UPDATE `+f.p.table+` SET cursor_bucket = ?, cursor_at = ?, cursor_saved = ? WHERE relay = ? IF epoch = ?`,
		BucketOf(at), gocql.MinTimeUUID(at), time.Now(), f.relay, int64(f.epoch)).WithContext(ctx)
	return f.casQuery(q, "save the cursor")
}

// static reads a timestamp static column of the relay's partition, or, if
// it is null and legacyColumn is set, that column of scylla-cdc-go's
// special row in cdc_progress.
func (f *FencedProgress) static(ctx context.Context, column, legacyColumn string) (time.Time, error) {
	var v *time.Time
	err := f.p.s.Session.Query(`SELECT `+column+` FROM `+f.p.table+` WHERE relay = ? LIMIT 1`, f.relay).WithContext(ctx).Scan(&v)
	if err != nil && !errors.Is(err, gocql.ErrNotFound) {
		return time.Time{}, err
	}
	if v != nil || legacyColumn == "" {
		if v == nil {
			return time.Time{}, nil
		}
		return *v, nil
	}
	var legacy time.Time
	err = f.p.s.Session.Query(`SELECT `+legacyColumn+` FROM `+f.p.legacy+` WHERE generation = ? AND application_name = ? AND table_name = ? AND stream_id = ?`,
		time.Time{}, f.relay, "", []byte{}).WithContext(ctx).Scan(&legacy)
	if err != nil && !errors.Is(err, gocql.ErrNotFound) {
		return time.Time{}, err
	}
	return legacy, nil
}

// Check fails with [leader.ErrFenced] if a later epoch has been taken. It
// is a conditional no-op write, linearizable with the epochs' own
// compare-and-set, for writes that cannot be made conditional on the epoch
// themselves (a dead letter lives in other partitions): checked just
// before them, it shrinks a stale leader's window to the time between the
// check and the write.
func (f *FencedProgress) Check(ctx context.Context) error {
	q := f.p.s.Session.Query(`UPDATE `+f.p.table+` SET epoch = ? WHERE relay = ? IF epoch = ?`, int64(f.epoch), f.relay, int64(f.epoch)).WithContext(ctx)
	return f.casQuery(q, "check the epoch")
}

// casQuery runs a conditional statement of this epoch.
func (f *FencedProgress) casQuery(q *gocql.Query, what string) error {
	prev := map[string]any{}
	applied, err := q.MapScanCAS(prev)
	if err != nil {
		return fmt.Errorf("storage: relay %q epoch %d: %s: %w", f.relay, f.epoch, what, err)
	}
	if !applied {
		return f.fenced(prev, what)
	}
	return nil
}

// cas runs a conditional batch of this epoch.
func (f *FencedProgress) cas(b *gocql.Batch, what string) error {
	prev := map[string]any{}
	applied, iter, err := f.p.s.Session.MapExecuteBatchCAS(b, prev)
	if iter != nil {
		if cerr := iter.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("storage: relay %q epoch %d: %s: %w", f.relay, f.epoch, what, err)
	}
	if !applied {
		return f.fenced(prev, what)
	}
	return nil
}

func (f *FencedProgress) fenced(prev map[string]any, what string) error {
	held, _ := prev["epoch"].(int64)
	return fmt.Errorf("storage: relay %q epoch %d: %s: %w (epoch %d holds it)", f.relay, f.epoch, what, leader.ErrFenced, held)
}

var _ cdc.ProgressStore = (*FencedProgress)(nil)
