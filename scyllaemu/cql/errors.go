package cql

import (
	"strconv"
	"unicode/utf8"
)

// SyntaxError is a parse failure. Line is 1-based and Col is the 0-based
// character offset within that line, as ANTLR (and therefore ScyllaDB)
// reports them, so error text can be compared with a real cluster's.
type SyntaxError struct {
	Line int
	Col  int
	Msg  string
}

func (e *SyntaxError) Error() string {
	return "line " + strconv.Itoa(e.Line) + ":" + strconv.Itoa(e.Col) + " " + e.Msg
}

// maxTokenEcho bounds how much of an offending token is quoted back, so a
// multi-megabyte string literal does not end up in an error frame.
const maxTokenEcho = 64

func newSyntaxError(src string, off int, msg string) *SyntaxError {
	if off > len(src) {
		off = len(src)
	}
	if off < 0 {
		off = 0
	}
	line, lineStart := 1, 0
	for i := 0; i < off; i++ {
		if src[i] == '\n' {
			line++
			lineStart = i + 1
		}
	}
	return &SyntaxError{Line: line, Col: utf8.RuneCountInString(src[lineStart:off]), Msg: msg}
}

// echo renders token text for an error message.
func echo(s string) string {
	if len(s) <= maxTokenEcho {
		return s
	}
	cut := maxTokenEcho
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// laterError picks the error that got further into the input; when the
// parser tries alternatives, the furthest failure is the most useful one.
func laterError(a, b error) error {
	sa, okA := a.(*SyntaxError)
	sb, okB := b.(*SyntaxError)
	if !okA || !okB {
		return a
	}
	if sb.Line > sa.Line || (sb.Line == sa.Line && sb.Col > sa.Col) {
		return b
	}
	return a
}
