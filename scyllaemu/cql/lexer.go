package cql

import "strings"

type tokKind uint8

const (
	tkEOF      tokKind = iota
	tkError            // lexing stopped here; text is the message
	tkWord             // unquoted identifier or keyword, text lower-cased
	tkQuoted           // "quoted identifier", text unescaped
	tkString           // '...' or $$...$$, text unescaped
	tkInteger          // text may start with '-'
	tkFloat            // text may start with '-'
	tkUUID             //
	tkHex              // 0x..., text keeps the prefix
	tkDuration         // text as written
	tkQMark            // ?
	tkSym              // punctuation, text is the symbol itself
)

type token struct {
	kind  tokKind
	text  string
	start int // byte offsets of the raw token in the source
	end   int
}

// lex tokenises the whole input up front: statements are short, and a slice
// gives the parser free arbitrary lookahead and cheap backtracking. The slice
// always ends with a tkEOF or tkError token. A lexing error does not fail
// immediately: the parser reports whichever problem comes first in the text,
// which is what ANTLR's streaming lexer does too.
func lex(src string) []token {
	// CQL averages three to five bytes per token; the cap keeps a huge
	// blob or string literal from reserving a huge token slice.
	est := len(src)/3 + 8
	if est > 1024 {
		est = 1024
	}
	toks := make([]token, 0, est)
	i, n := 0, len(src)
	for {
		// Whitespace and comments.
		for i < n {
			c := src[i]
			if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
				i++
				continue
			}
			if (c == '-' || c == '/') && i+1 < n && src[i+1] == c {
				// A line comment may end at EOF; ANTLR insists on a newline,
				// but drivers strip trailing newlines and nothing is gained
				// by rejecting that.
				for i < n && src[i] != '\n' && src[i] != '\r' {
					i++
				}
				continue
			}
			if c == '/' && i+1 < n && src[i+1] == '*' {
				end := strings.Index(src[i+2:], "*/")
				if end < 0 {
					return append(toks, token{kind: tkError, text: "unterminated comment", start: i, end: n})
				}
				i += 2 + end + 2
				continue
			}
			break
		}
		if i >= n {
			return append(toks, token{kind: tkEOF, start: n, end: n})
		}
		start := i
		c := src[i]
		switch {
		case isLetter(c):
			if c == 'P' {
				if end := isoDuration(src, i+1); end > 0 {
					toks = append(toks, token{kind: tkDuration, text: src[start:end], start: start, end: end})
					i = end
					continue
				}
			}
			if isHex(c) && isUUIDAt(src, i) {
				toks = append(toks, token{kind: tkUUID, text: src[i : i+36], start: i, end: i + 36})
				i += 36
				continue
			}
			j := i + 1
			upper := c >= 'A' && c <= 'Z'
			for j < n && isIdentChar(src[j]) {
				if src[j] >= 'A' && src[j] <= 'Z' {
					upper = true
				}
				j++
			}
			text := src[i:j]
			if upper {
				text = lowerWord(text)
			}
			toks = append(toks, token{kind: tkWord, text: text, start: i, end: j})
			i = j
		case isDigit(c):
			if isUUIDAt(src, i) {
				toks = append(toks, token{kind: tkUUID, text: src[i : i+36], start: i, end: i + 36})
				i += 36
				continue
			}
			if c == '0' && i+1 < n && (src[i+1] == 'x' || src[i+1] == 'X') {
				j := i + 2
				for j < n && isHex(src[j]) {
					j++
				}
				toks = append(toks, token{kind: tkHex, text: src[i:j], start: i, end: j})
				i = j
				continue
			}
			kind, end := lexNumber(src, i)
			toks = append(toks, token{kind: kind, text: src[i:end], start: i, end: end})
			i = end
		case c == '-':
			// Like Scylla's INTEGER rule, a '-' glued to a digit is a sign.
			// That is why `c = c -1` needs its own production in UPDATE.
			if i+1 < n && isDigit(src[i+1]) {
				kind, end := lexNumber(src, i)
				toks = append(toks, token{kind: kind, text: src[i:end], start: i, end: end})
				i = end
				continue
			}
			if i+1 < n && src[i+1] == 'P' {
				if end := isoDuration(src, i+2); end > 0 {
					toks = append(toks, token{kind: tkDuration, text: src[i:end], start: i, end: end})
					i = end
					continue
				}
			}
			toks = append(toks, token{kind: tkSym, text: "-", start: i, end: i + 1})
			i++
		case c == '\'':
			text, end, ok := lexQuoted(src, i, '\'')
			if !ok {
				return append(toks, token{kind: tkError, text: "unterminated string literal", start: i, end: n})
			}
			toks = append(toks, token{kind: tkString, text: text, start: i, end: end})
			i = end
		case c == '"':
			text, end, ok := lexQuoted(src, i, '"')
			if !ok {
				return append(toks, token{kind: tkError, text: "unterminated quoted identifier", start: i, end: n})
			}
			if text == "" {
				return append(toks, token{kind: tkError, text: "token recognition error at: '\"\"'", start: i, end: end})
			}
			toks = append(toks, token{kind: tkQuoted, text: text, start: i, end: end})
			i = end
		case c == '$':
			if i+1 < n && src[i+1] == '$' {
				end := strings.Index(src[i+2:], "$$")
				if end < 0 {
					return append(toks, token{kind: tkError, text: "unterminated $$ string literal", start: i, end: n})
				}
				toks = append(toks, token{kind: tkString, text: src[i+2 : i+2+end], start: i, end: i + 2 + end + 2})
				i += 2 + end + 2
				continue
			}
			return append(toks, token{kind: tkError, text: "token recognition error at: '$'", start: i, end: i + 1})
		case c == '?':
			toks = append(toks, token{kind: tkQMark, text: "?", start: i, end: i + 1})
			i++
		case c == '<' || c == '>' || c == '!':
			if i+1 < n && src[i+1] == '=' {
				toks = append(toks, token{kind: tkSym, text: src[i : i+2], start: i, end: i + 2})
				i += 2
				continue
			}
			if c == '!' {
				return append(toks, token{kind: tkError, text: "token recognition error at: '!'", start: i, end: i + 1})
			}
			toks = append(toks, token{kind: tkSym, text: src[i : i+1], start: i, end: i + 1})
			i++
		case strings.IndexByte("()[]{},;.:=+*", c) >= 0:
			toks = append(toks, token{kind: tkSym, text: src[i : i+1], start: i, end: i + 1})
			i++
		default:
			end := i + 1
			if c >= 0x80 {
				// Quote the whole character, not half of a UTF-8 sequence.
				for end < n && end-i < 4 && src[end]&0xC0 == 0x80 {
					end++
				}
			}
			return append(toks, token{kind: tkError, text: "token recognition error at: '" + src[i:end] + "'", start: i, end: end})
		}
	}
}

func isLetter(c byte) bool    { return (c|0x20) >= 'a' && (c|0x20) <= 'z' }
func isDigit(c byte) bool     { return c >= '0' && c <= '9' }
func isHex(c byte) bool       { return isDigit(c) || ((c|0x20) >= 'a' && (c|0x20) <= 'f') }
func isIdentChar(c byte) bool { return isLetter(c) || isDigit(c) || c == '_' || c == '$' }

// isUUIDAt reports an unquoted 8-4-4-4-12 hex UUID at src[i:]. It is tried
// before identifiers and numbers because it is always the longest match.
func isUUIDAt(src string, i int) bool {
	if len(src)-i < 36 {
		return false
	}
	for k := 0; k < 36; k++ {
		c := src[i+k]
		if k == 8 || k == 13 || k == 18 || k == 23 {
			if c != '-' {
				return false
			}
		} else if !isHex(c) {
			return false
		}
	}
	return true
}

// lexNumber scans an INTEGER, FLOAT or unit-style DURATION starting at i
// (which holds a digit or a '-' followed by a digit).
func lexNumber(src string, i int) (tokKind, int) {
	n := len(src)
	j := i
	if src[j] == '-' {
		j++
	}
	digits := j
	for j < n && isDigit(src[j]) {
		j++
	}
	if j < n && (isLetter(src[j]) || src[j] == 0xC2) {
		if end := unitDuration(src, digits); end > 0 {
			return tkDuration, end
		}
	}
	kind := tkInteger
	if j < n && src[j] == '.' {
		kind = tkFloat
		j++
		for j < n && isDigit(src[j]) {
			j++
		}
	}
	if j < n && (src[j] == 'e' || src[j] == 'E') {
		k := j + 1
		if k < n && (src[k] == '+' || src[k] == '-') {
			k++
		}
		if k < n && isDigit(src[k]) {
			for k < n && isDigit(src[k]) {
				k++
			}
			return tkFloat, k
		}
	}
	return kind, j
}

// unitDuration matches (DIGIT+ unit)+ at i and returns the end of the last
// complete group, or 0. Units are case-insensitive, as in Scylla's lexer.
func unitDuration(src string, i int) int {
	n, end := len(src), 0
	for {
		j := i
		for j < n && isDigit(src[j]) {
			j++
		}
		if j == i {
			return end
		}
		u := durationUnitLen(src, j)
		if u == 0 {
			return end
		}
		end = j + u
		i = end
	}
}

func durationUnitLen(src string, j int) int {
	if j >= len(src) {
		return 0
	}
	c := src[j] | 0x20
	var next byte
	if j+1 < len(src) {
		next = src[j+1] | 0x20
	}
	switch {
	case c == 'm' && (next == 'o' || next == 's'):
		return 2
	case (c == 'u' || c == 'n') && next == 's':
		return 2
	case src[j] == 0xC2 && j+2 < len(src) && src[j+1] == 0xB5 && src[j+2]|0x20 == 's': // µs
		return 3
	case c == 'y' || c == 'w' || c == 'd' || c == 'h' || c == 'm' || c == 's':
		return 1
	}
	return 0
}

// isoDuration matches the ISO-8601 duration forms Scylla's DURATION rule
// accepts, given i just past the leading 'P'. It returns the end offset or 0.
// Unlike Scylla it requires at least one component, so a column named P (or
// PT) still lexes as an identifier.
func isoDuration(src string, i int) int {
	n := len(src)
	// Alternative format: PYYYY-MM-DDThh:mm:ss.
	const alt = "dddd-dd-ddTdd:dd:dd"
	if n-i >= len(alt) {
		ok := true
		for k := 0; k < len(alt) && ok; k++ {
			c := src[i+k]
			if alt[k] == 'd' {
				ok = isDigit(c)
			} else {
				ok = c == alt[k]
			}
		}
		if ok && (i+len(alt) == n || !isIdentChar(src[i+len(alt)])) {
			return i + len(alt)
		}
	}
	j, any := i, false
	// Week format: PnW.
	k := j
	for k < n && isDigit(src[k]) {
		k++
	}
	if k > j && k < n && src[k] == 'W' {
		j, any = k+1, true
	} else {
		j = isoDesignators(src, j, "YMD", &any)
		if j < n && src[j] == 'T' {
			var anyT bool
			if e := isoDesignators(src, j+1, "HMS", &anyT); anyT {
				j, any = e, true
			}
		}
	}
	if !any || (j < n && isIdentChar(src[j])) {
		return 0
	}
	return j
}

// isoDesignators consumes DIGIT+ designator pairs whose designators appear
// in order within allowed.
func isoDesignators(src string, i int, allowed string, any *bool) int {
	n := len(src)
	for len(allowed) > 0 {
		k := i
		for k < n && isDigit(src[k]) {
			k++
		}
		if k == i || k >= n {
			return i
		}
		idx := strings.IndexByte(allowed, src[k])
		if idx < 0 {
			return i
		}
		allowed = allowed[idx+1:]
		i = k + 1
		*any = true
	}
	return i
}

// lexQuoted scans a quote-delimited literal where a doubled quote is an
// escaped quote; it allocates only when an escape is present.
func lexQuoted(src string, i int, q byte) (string, int, bool) {
	n := len(src)
	j := i + 1
	var b []byte
	segStart := j
	for j < n {
		if src[j] != q {
			j++
			continue
		}
		if j+1 < n && src[j+1] == q {
			b = append(b, src[segStart:j+1]...)
			j += 2
			segStart = j
			continue
		}
		if b == nil {
			return src[i+1 : j], j + 1, true
		}
		b = append(b, src[segStart:j]...)
		return string(b), j + 1, true
	}
	return "", n, false
}
