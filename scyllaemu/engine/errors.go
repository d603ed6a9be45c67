package engine

import (
	"fmt"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/wire"
)

// Error is a CQL error with its protocol code and the extra fields some
// codes carry. The server encodes it as an ERROR frame.
type Error struct {
	// Code is one of package wire's error codes (wire.Invalid, ...).
	Code int32
	Msg  string
	// AlreadyExists: the keyspace and table ("" for a keyspace).
	Keyspace, Table string
	// Unprepared: the unknown statement id.
	ID []byte
	// Unavailable: consistency asked and replicas required/alive.
	Consistency     uint16
	Required, Alive int32
}

func (e *Error) Error() string { return e.Msg }

func invalidf(format string, args ...any) *Error {
	return &Error{Code: wire.Invalid, Msg: fmt.Sprintf(format, args...)}
}

func configf(format string, args ...any) *Error {
	return &Error{Code: wire.ConfigError, Msg: fmt.Sprintf(format, args...)}
}

func unauthorizedf(format string, args ...any) *Error {
	return &Error{Code: wire.Unauthorized, Msg: fmt.Sprintf(format, args...)}
}

func keyspaceExists(ks string) *Error {
	return &Error{Code: wire.AlreadyExists, Keyspace: ks,
		Msg: fmt.Sprintf("Keyspace %s already exists", ks)}
}

func tableExists(ks, t string) *Error {
	return &Error{Code: wire.AlreadyExists, Keyspace: ks, Table: t,
		Msg: fmt.Sprintf("Table %s.%s already exists", ks, t)}
}

func noKeyspace(ks string) *Error {
	return invalidf("Keyspace %s does not exist", ks)
}

func noTable(ks, t string) *Error {
	return invalidf("unconfigured table %s", t)
}

func noColumn(name string) *Error {
	return invalidf("Undefined name %s in selection clause", name)
}

const filteringMsg = "Cannot execute this query as it might involve data filtering and thus may have unpredictable performance. If you want to execute this query despite the performance unpredictability, use ALLOW FILTERING"
