package cdc

import (
	"reflect"
	"testing"
	"time"

	"github.com/gocql/gocql"
)

func TestValueOf(t *testing.T) {
	id := gocql.TimeUUID()
	s, n, at := "Order", int64(7), time.Unix(1700000000, 0)
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"uuid pointer", valueOf[gocql.UUID](&id), id},
		{"null uuid", valueOf[gocql.UUID]((*gocql.UUID)(nil)), gocql.UUID{}},
		{"string pointer", valueOf[string](&s), s},
		{"bigint pointer", valueOf[int64](&n), n},
		{"timestamp pointer", valueOf[time.Time](&at), at},
		{"blob", valueOf[[]byte]([]byte("{}")), []byte("{}")},
		{"null blob", valueOf[[]byte]([]byte(nil)), []byte(nil)},
		{"absent column", valueOf[string](nil), ""},
		{"another type", valueOf[string](&n), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Fatalf("got %#v, want %#v", tt.got, tt.want)
			}
		})
	}
}

func TestColumnIndex(t *testing.T) {
	cols := func(names ...string) []gocql.ColumnInfo {
		out := make([]gocql.ColumnInfo, len(names))
		for i, n := range names {
			out[i].Name = n
		}
		return out
	}
	all := cols("cdc$stream_id", "cdc$time", "aggregate_id", "sequence", "cdc$deleted_payload", "content_type", "event_id",
		"aggregate_type", "event_type", "occurred_at", "payload", "trace_parent")
	tests := []struct {
		name string
		cols []gocql.ColumnInfo
		want [numEventColumns]int
	}{
		{"every column, found by name whatever the order", all, [numEventColumns]int{2, 6, 3, 7, 8, 10, 5, 11, 9}},
		{"a column missing from the log", cols("event_id", "aggregate_id"), [numEventColumns]int{1, 0, -1, -1, -1, -1, -1, -1, -1}},
		{"no columns", nil, [numEventColumns]int{-1, -1, -1, -1, -1, -1, -1, -1, -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ix columnIndex
			if got := *ix.of(tt.cols); got != tt.want {
				t.Fatalf("positions %v, want %v", got, tt.want)
			}
		})
	}

	t.Run("a query's rows share their column list; another query's list is looked up again", func(t *testing.T) {
		var ix columnIndex
		first := *ix.of(all)
		if got := *ix.of(all); got != first {
			t.Fatalf("same list: %v, then %v", first, got)
		}
		other := cols("payload", "event_id")
		if got := *ix.of(other); got[colPayload] != 0 || got[colEventID] != 1 || got[colAggregateID] != -1 {
			t.Fatalf("another list kept the first one's positions: %v", got)
		}
	})
}
