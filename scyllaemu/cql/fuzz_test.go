package cql

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics or hangs, that errors are
// always positioned *SyntaxErrors inside the input, and that a successful
// parse has consistent bind markers and is deterministic. Seeds live in
// testdata/fuzz/FuzzParse; the driver query lists add more.
func FuzzParse(f *testing.F) {
	for _, q := range gocqlQueries {
		f.Add(q + " USING TIMEOUT 10000ms")
	}
	for _, q := range cdcQueries {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Parse(src)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %T %v is not a *SyntaxError", err, err)
			}
			lines := strings.Count(src, "\n") + 1
			if se.Line < 1 || se.Line > lines || se.Col < 0 || se.Col > len(src) || se.Msg == "" {
				t.Fatalf("bad error position %+v for %d-line input", *se, lines)
			}
			return
		}
		if p == nil || p.Stmt == nil {
			t.Fatal("nil result without error")
		}
		checkMarkers(t, p)
		again, err := Parse(src)
		if err != nil || !reflect.DeepEqual(p, again) {
			t.Fatalf("second parse differs: %v", err)
		}
	})
}
