package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func collect(t *testing.T, dir string) ([]string, *Log) {
	t.Helper()
	var got []string
	l, err := Open(dir, Options{}, func(p []byte) error {
		got = append(got, string(p))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, l
}

// write appends one record and commits it.
func write(t *testing.T, l *Log, rec string) {
	t.Helper()
	if err := l.Commit(l.Append([]byte(rec))); err != nil {
		t.Fatal(err)
	}
}

func mustClose(t *testing.T, l *Log) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestRecordsSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	_, l := collect(t, dir)
	for i := 0; i < 3; i++ {
		seq := l.Append([]byte(fmt.Sprintf("rec-%d", i)))
		if err := l.Commit(seq); err != nil {
			t.Fatal(err)
		}
	}
	l.Append([]byte("buffered")) // written by Close
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got, l2 := collect(t, dir)
	defer mustClose(t, l2)
	if want := []string{"rec-0", "rec-1", "rec-2", "buffered"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("replayed %q, want %q", got, want)
	}
}

// TestTornTailIsCut simulates a crash in the middle of a write: the last
// record is incomplete or corrupt; the intact ones replay, the rest is cut
// so appends continue on a record boundary.
func TestTornTailIsCut(t *testing.T) {
	tests := []struct {
		name string
		tail func(full []byte) []byte
	}{
		{"header only half written", func(full []byte) []byte { return full[:3] }},
		{"payload cut short", func(full []byte) []byte { return full[:len(full)-2] }},
		{"payload corrupt", func(full []byte) []byte {
			c := append([]byte(nil), full...)
			c[len(c)-1] ^= 0xff
			return c
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, l := collect(t, dir)
			write(t, l, "kept")
			mustClose(t, l)
			// Build the bytes of one more record the way Append frames it.
			scratch := t.TempDir()
			_, s := collect(t, scratch)
			write(t, s, "torn record")
			mustClose(t, s)
			full, err := os.ReadFile(filepath.Join(scratch, FileName))
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(filepath.Join(dir, FileName), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(tc.tail(full)); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}

			got, l2 := collect(t, dir)
			if !reflect.DeepEqual(got, []string{"kept"}) {
				t.Fatalf("replayed %q", got)
			}
			write(t, l2, "after")
			mustClose(t, l2)
			got, l3 := collect(t, dir)
			mustClose(t, l3)
			if !reflect.DeepEqual(got, []string{"kept", "after"}) {
				t.Fatalf("after the cut: %q", got)
			}
		})
	}
}

func TestDirectoryIsExclusive(t *testing.T) {
	dir := t.TempDir()
	_, l := collect(t, dir)
	defer mustClose(t, l)
	if _, err := Open(dir, Options{}, func([]byte) error { return nil }); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
}

func TestReplayErrorStopsOpen(t *testing.T) {
	dir := t.TempDir()
	_, l := collect(t, dir)
	l.Append([]byte("x"))
	mustClose(t, l)
	boom := errors.New("boom")
	if _, err := Open(dir, Options{}, func([]byte) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Open: %v, want the replay error", err)
	}
}

func TestFsyncAlwaysCommits(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{FsyncAlways: true}, func([]byte) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Commit(l.Append([]byte("durable"))); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil || fi.Size() != headerSize+int64(len("durable")) {
		t.Fatalf("file after commit: %v %v", fi, err)
	}
	mustClose(t, l)
}
