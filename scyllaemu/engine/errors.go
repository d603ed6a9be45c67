package engine

import "fmt"

// Error codes of the native protocol that the engine produces.
const (
	CodeServer        int32 = 0x0000
	CodeProtocol      int32 = 0x000A
	CodeUnavailable   int32 = 0x1000
	CodeSyntax        int32 = 0x2000
	CodeUnauthorized  int32 = 0x2100
	CodeInvalid       int32 = 0x2200
	CodeConfig        int32 = 0x2300
	CodeAlreadyExists int32 = 0x2400
	CodeUnprepared    int32 = 0x2500
)

// Error is a CQL error with its protocol code and the extra fields some
// codes carry. The server encodes it as an ERROR frame.
type Error struct {
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
	return &Error{Code: CodeInvalid, Msg: fmt.Sprintf(format, args...)}
}

func configf(format string, args ...any) *Error {
	return &Error{Code: CodeConfig, Msg: fmt.Sprintf(format, args...)}
}

func unauthorizedf(format string, args ...any) *Error {
	return &Error{Code: CodeUnauthorized, Msg: fmt.Sprintf(format, args...)}
}

func keyspaceExists(ks string) *Error {
	return &Error{Code: CodeAlreadyExists, Keyspace: ks,
		Msg: fmt.Sprintf("Keyspace %s already exists", ks)}
}

func tableExists(ks, t string) *Error {
	return &Error{Code: CodeAlreadyExists, Keyspace: ks, Table: t,
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
