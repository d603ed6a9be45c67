package cql

import "testing"

type lexed struct {
	kind tokKind
	text string
}

func lexAll(src string) []lexed {
	var out []lexed
	for _, t := range lex(src) {
		out = append(out, lexed{t.kind, t.text})
	}
	return out
}

func TestLex(t *testing.T) {
	eof := lexed{tkEOF, ""}
	tests := []struct {
		src  string
		want []lexed
	}{
		{"SELECT Foo", []lexed{{tkWord, "select"}, {tkWord, "foo"}, eof}},
		{`"Foo""Bar" "cdc$time" "[applied]"`, []lexed{{tkQuoted, `Foo"Bar`}, {tkQuoted, "cdc$time"}, {tkQuoted, "[applied]"}, eof}},
		{"cdc$time CDC$Stream_ID", []lexed{{tkWord, "cdc$time"}, {tkWord, "cdc$stream_id"}, eof}},
		{`'it''s' '' $$a'b$c$$ $$$$`, []lexed{{tkString, "it's"}, {tkString, ""}, {tkString, "a'b$c"}, {tkString, ""}, eof}},
		{"42 -7 0 -0", []lexed{{tkInteger, "42"}, {tkInteger, "-7"}, {tkInteger, "0"}, {tkInteger, "-0"}, eof}},
		{"1.5 1. -2.5E-3 1e10 3E+2", []lexed{{tkFloat, "1.5"}, {tkFloat, "1."}, {tkFloat, "-2.5E-3"}, {tkFloat, "1e10"}, {tkFloat, "3E+2"}, eof}},
		{"NaN Infinity", []lexed{{tkWord, "nan"}, {tkWord, "infinity"}, eof}},
		{"0xCAFE 0x 0X01", []lexed{{tkHex, "0xCAFE"}, {tkHex, "0x"}, {tkHex, "0X01"}, eof}},
		{"123e4567-e89b-12d3-a456-426614174000 DEADBEEF-0000-0000-0000-000000000000",
			[]lexed{{tkUUID, "123e4567-e89b-12d3-a456-426614174000"}, {tkUUID, "DEADBEEF-0000-0000-0000-000000000000"}, eof}},
		{"1h30m 12ms 3d 1us 1µs 5ns 2mo 1y2w -2h 1H30M", []lexed{
			{tkDuration, "1h30m"}, {tkDuration, "12ms"}, {tkDuration, "3d"}, {tkDuration, "1us"}, {tkDuration, "1µs"},
			{tkDuration, "5ns"}, {tkDuration, "2mo"}, {tkDuration, "1y2w"}, {tkDuration, "-2h"}, {tkDuration, "1H30M"}, eof}},
		{"P1Y2M PT5S P3W -P1DT2H P0001-02-03T04:05:06", []lexed{
			{tkDuration, "P1Y2M"}, {tkDuration, "PT5S"}, {tkDuration, "P3W"}, {tkDuration, "-P1DT2H"}, {tkDuration, "P0001-02-03T04:05:06"}, eof}},
		// Not durations: no component, lower-case designator, trailing
		// identifier characters.
		{"P PT p1d P1Dx", []lexed{{tkWord, "p"}, {tkWord, "pt"}, {tkWord, "p1d"}, {tkWord, "p1dx"}, eof}},
		{"1h30", []lexed{{tkDuration, "1h"}, {tkInteger, "30"}, eof}},
		{"? :name", []lexed{{tkQMark, "?"}, {tkSym, ":"}, {tkWord, "name"}, eof}},
		{"<= >= != < > = + - * ( ) [ ] { } , ; . :", []lexed{
			{tkSym, "<="}, {tkSym, ">="}, {tkSym, "!="}, {tkSym, "<"}, {tkSym, ">"}, {tkSym, "="}, {tkSym, "+"}, {tkSym, "-"},
			{tkSym, "*"}, {tkSym, "("}, {tkSym, ")"}, {tkSym, "["}, {tkSym, "]"}, {tkSym, "{"}, {tkSym, "}"}, {tkSym, ","},
			{tkSym, ";"}, {tkSym, "."}, {tkSym, ":"}, eof}},
		// A '-' glued to a digit is a sign, as in Scylla.
		{"c -1 c - 1 x-=1", []lexed{{tkWord, "c"}, {tkInteger, "-1"}, {tkWord, "c"}, {tkSym, "-"}, {tkInteger, "1"},
			{tkWord, "x"}, {tkSym, "-"}, {tkSym, "="}, {tkInteger, "1"}, eof}},
		{"a -- comment\nb // other\r\nc /* multi\nline */ d -- at eof", []lexed{
			{tkWord, "a"}, {tkWord, "b"}, {tkWord, "c"}, {tkWord, "d"}, eof}},
		{"a@", []lexed{{tkWord, "a"}, {tkError, "token recognition error at: '@'"}}},
		{"'open", []lexed{{tkError, "unterminated string literal"}}},
		{`"open`, []lexed{{tkError, "unterminated quoted identifier"}}},
		{`""`, []lexed{{tkError, `token recognition error at: '""'`}}},
		{"/* open", []lexed{{tkError, "unterminated comment"}}},
		{"$x", []lexed{{tkError, "token recognition error at: '$'"}}},
		{"a ! b", []lexed{{tkWord, "a"}, {tkError, "token recognition error at: '!'"}}},
		{"é", []lexed{{tkError, "token recognition error at: 'é'"}}},
		{"", []lexed{eof}},
	}
	for _, tt := range tests {
		got := lexAll(tt.src)
		if len(got) != len(tt.want) {
			t.Errorf("lex(%q) = %v, want %v", tt.src, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("lex(%q)[%d] = %v, want %v", tt.src, i, got[i], tt.want[i])
			}
		}
	}
}

func TestLexOffsets(t *testing.T) {
	src := `SELECT "a""b", 'x' FROM t`
	for _, tok := range lex(src) {
		if tok.start < 0 || tok.end > len(src) || tok.start > tok.end {
			t.Fatalf("bad span %+v", tok)
		}
	}
	toks := lex(src)
	if got := src[toks[1].start:toks[1].end]; got != `"a""b"` {
		t.Errorf("raw quoted token = %q", got)
	}
}

func TestLowerWord(t *testing.T) {
	for in, want := range map[string]string{
		"SELECT": "select", "ColumnFamilies": "columnfamilies", "MyTable": "mytable",
		"A_VERY_LONG_IDENTIFIER_NAME_INDEED": "a_very_long_identifier_name_indeed", "CDC$Time": "cdc$time",
	} {
		if got := lowerWord(in); got != want {
			t.Errorf("lowerWord(%q) = %q, want %q", in, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { lowerWord("SELECT") }); n != 0 {
		t.Errorf("lowerWord allocates %v times for a keyword", n)
	}
}

func TestDepthRestoredAfterBacktrack(t *testing.T) {
	p := parser{src: "", toks: lex("")}
	for i := 0; i < maxNesting+5; i++ {
		if p.enter(p.peek()) != nil {
			break
		}
	}
	if p.depth != maxNesting {
		t.Fatalf("depth = %d after overflow, want %d", p.depth, maxNesting)
	}
}
