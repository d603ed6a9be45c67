package cql

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
