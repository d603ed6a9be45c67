package cql

import "strings"

// isReserved reports whether an unquoted, lower-cased word can never be an
// identifier. Every other keyword is recognised by position only, which is
// how Cql.g's unreserved_keyword rule lets system tables have columns named
// key, type, ttl, options, values, timestamp and so on.
//
// The list is ScyllaDB's lexer keywords minus its unreserved_keyword rule,
// further minus CAST, DEFAULT, REPLACE, UNSET and ANN, which Cassandra leaves
// unreserved (ScyllaDB reserving them is scylladb/scylladb SCYLLADB-5189);
// accepting a few more identifiers than a real cluster never breaks a client.
// TRUE and FALSE are here because they lex as BOOLEAN, not IDENT, in Scylla.
func isReserved(w string) bool {
	switch w {
	case "add", "allow", "alter", "and", "apply", "asc", "authorize",
		"batch", "begin", "by",
		"columnfamily", "concurrency", "create",
		"delete", "drop",
		"entries",
		"false", "from", "full",
		"grant",
		"if", "in", "index", "infinity", "insert", "into", "is",
		"keyspace",
		"limit",
		"materialized", "modify",
		"nan", "norecursive", "not", "null",
		"of", "on", "or", "order",
		"primary",
		"rename", "revoke",
		"schema", "select", "set",
		"table", "to", "token", "true", "truncate",
		"unlogged", "update", "use", "using",
		"view",
		"where", "with",
		"scylla_timeuuid_list_index", "scylla_counter_shard_list",
		"scylla_clustering_bound", "vector_search_indexing":
		return true
	}
	return false
}

// keywords interns the lower-case spelling of every CQL keyword, so the
// upper-case keywords most statements are written in cost no allocation.
var keywords = func() map[string]string {
	m := make(map[string]string)
	for _, w := range strings.Fields(`
		add aggregate aggregates all allow alter and ann apply as asc ascii
		attach attached authorize batch begin bigint blob boolean by bypass
		cache called cast clustering cluster columnfamilies columnfamily
		compact concurrency contains count counter create custom date
		decimal default delete desc describe detach distinct double drop
		duration effective empty entries execute exists false filtering
		finalfunc float for from frozen full function functions grant group
		hashed if in index inet infinity initcond input insert int internals
		into is json key keys keyspace keyspaces language level levels like
		limit list login map materialized modify nan nologin norecursive
		nosuperuser not null of on only options or order partition password
		passwords per permission permissions primary prune reducefunc rename
		replace returns revoke role roles schema select service set sfunc
		shares smallint static storage stype superuser table tables text time
		timeout timestamp timeuuid tinyint to token trigger true truncate ttl
		tuple type types unlogged unset update use user users using uuid
		values varchar varint vector view where with writetime`) {
		m[w] = w
	}
	return m
}()

// lowerWord lower-cases an ASCII identifier containing upper-case letters.
func lowerWord(s string) string {
	var buf [24]byte
	if len(s) <= len(buf) {
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			buf[i] = c
		}
		// The compiler does not allocate for a map index by string(bytes).
		if kw, ok := keywords[string(buf[:len(s)])]; ok {
			return kw
		}
	}
	return strings.ToLower(s)
}
