package wire

import "net/netip"

// Error codes (spec section 9).
const (
	ServerError     int32 = 0x0000
	ProtocolError   int32 = 0x000A
	BadCredentials  int32 = 0x0100
	Unavailable     int32 = 0x1000
	Overloaded      int32 = 0x1001
	IsBootstrapping int32 = 0x1002
	TruncateError   int32 = 0x1003
	WriteTimeout    int32 = 0x1100
	ReadTimeout     int32 = 0x1200
	ReadFailure     int32 = 0x1300
	FunctionFailure int32 = 0x1400
	WriteFailure    int32 = 0x1500
	SyntaxError     int32 = 0x2000
	Unauthorized    int32 = 0x2100
	Invalid         int32 = 0x2200
	ConfigError     int32 = 0x2300
	AlreadyExists   int32 = 0x2400
	Unprepared      int32 = 0x2500
)

// Write types carried by write timeout/failure errors.
const (
	WriteTypeSimple        = "SIMPLE"
	WriteTypeBatch         = "BATCH"
	WriteTypeUnloggedBatch = "UNLOGGED_BATCH"
	WriteTypeCounter       = "COUNTER"
	WriteTypeBatchLog      = "BATCH_LOG"
	WriteTypeCAS           = "CAS"
)

// RESULT kinds (spec section 4.2.5).
const (
	ResultVoid         int32 = 0x0001
	ResultRows         int32 = 0x0002
	ResultSetKeyspace  int32 = 0x0003
	ResultPrepared     int32 = 0x0004
	ResultSchemaChange int32 = 0x0005
)

// Rows/prepared metadata flags (spec section 4.2.5.2).
const (
	MetaGlobalTablesSpec int32 = 0x0001
	MetaHasMorePages     int32 = 0x0002
	MetaNoMetadata       int32 = 0x0004
)

// Schema change types, targets and event types (spec section 4.2.6).
const (
	ChangeCreated = "CREATED"
	ChangeUpdated = "UPDATED"
	ChangeDropped = "DROPPED"

	TargetKeyspace  = "KEYSPACE"
	TargetTable     = "TABLE"
	TargetType      = "TYPE"
	TargetFunction  = "FUNCTION"
	TargetAggregate = "AGGREGATE"

	EventTopologyChange = "TOPOLOGY_CHANGE"
	EventStatusChange   = "STATUS_CHANGE"
	EventSchemaChange   = "SCHEMA_CHANGE"
)

// ---- ERROR ------------------------------------------------------------------

// AppendError appends an ERROR body: [int] code, [string] msg.
//
// For the codes whose v4 layout carries extra fields (Unavailable, the
// timeouts and failures, AlreadyExists, Unprepared) it appends zero values
// for them, so the frame always parses: drivers read those fields
// unconditionally, and a short body would fail the whole connection rather
// than the one request. Use the dedicated helpers to send real values.
func AppendError(dst []byte, code int32, msg string) []byte {
	dst = AppendInt(dst, code)
	dst = AppendString(dst, msg)
	switch code {
	case Unavailable:
		dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0) // cl, required, alive
	case WriteTimeout:
		dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0) // cl, received, blockfor
		dst = AppendString(dst, WriteTypeSimple)
	case ReadTimeout:
		dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0) // cl, received, blockfor, data_present
	case ReadFailure:
		dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0) // + numfailures
	case WriteFailure:
		dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0) // cl, received, blockfor, numfailures
		dst = AppendString(dst, WriteTypeSimple)
	case FunctionFailure:
		dst = append(dst, 0, 0, 0, 0, 0, 0) // keyspace, function, arg_types all empty
	case AlreadyExists:
		dst = append(dst, 0, 0, 0, 0) // keyspace, table
	case Unprepared:
		dst = append(dst, 0, 0) // id
	}
	return dst
}

func appendErrorHead(dst []byte, code int32, msg string) []byte {
	dst = AppendInt(dst, code)
	return AppendString(dst, msg)
}

// AppendUnavailableError appends an Unavailable (0x1000) error:
// <cl><required><alive>.
func AppendUnavailableError(dst []byte, msg string, cl uint16, required, alive int32) []byte {
	dst = appendErrorHead(dst, Unavailable, msg)
	dst = AppendShort(dst, cl)
	dst = AppendInt(dst, required)
	return AppendInt(dst, alive)
}

// AppendWriteTimeoutError appends a Write_timeout (0x1100) error:
// <cl><received><blockfor><writeType>.
func AppendWriteTimeoutError(dst []byte, msg string, cl uint16, received, blockFor int32, writeType string) []byte {
	dst = appendErrorHead(dst, WriteTimeout, msg)
	dst = AppendShort(dst, cl)
	dst = AppendInt(dst, received)
	dst = AppendInt(dst, blockFor)
	return AppendString(dst, writeType)
}

// AppendReadTimeoutError appends a Read_timeout (0x1200) error:
// <cl><received><blockfor><data_present>.
func AppendReadTimeoutError(dst []byte, msg string, cl uint16, received, blockFor int32, dataPresent bool) []byte {
	dst = appendErrorHead(dst, ReadTimeout, msg)
	dst = AppendShort(dst, cl)
	dst = AppendInt(dst, received)
	dst = AppendInt(dst, blockFor)
	return append(dst, boolByte(dataPresent))
}

// AppendReadFailureError appends a Read_failure (0x1300) error:
// <cl><received><blockfor><numfailures><data_present>.
func AppendReadFailureError(dst []byte, msg string, cl uint16, received, blockFor, numFailures int32, dataPresent bool) []byte {
	dst = appendErrorHead(dst, ReadFailure, msg)
	dst = AppendShort(dst, cl)
	dst = AppendInt(dst, received)
	dst = AppendInt(dst, blockFor)
	dst = AppendInt(dst, numFailures)
	return append(dst, boolByte(dataPresent))
}

// AppendWriteFailureError appends a Write_failure (0x1500) error:
// <cl><received><blockfor><numfailures><write_type>.
func AppendWriteFailureError(dst []byte, msg string, cl uint16, received, blockFor, numFailures int32, writeType string) []byte {
	dst = appendErrorHead(dst, WriteFailure, msg)
	dst = AppendShort(dst, cl)
	dst = AppendInt(dst, received)
	dst = AppendInt(dst, blockFor)
	dst = AppendInt(dst, numFailures)
	return AppendString(dst, writeType)
}

// AppendFunctionFailureError appends a Function_failure (0x1400) error:
// <keyspace><function><arg_types>.
func AppendFunctionFailureError(dst []byte, msg, keyspace, function string, argTypes []string) []byte {
	dst = appendErrorHead(dst, FunctionFailure, msg)
	dst = AppendString(dst, keyspace)
	dst = AppendString(dst, function)
	return AppendStringList(dst, argTypes)
}

// AppendAlreadyExistsError appends an Already_exists (0x2400) error:
// <ks><table>; table is "" when a keyspace already exists.
func AppendAlreadyExistsError(dst []byte, msg, keyspace, table string) []byte {
	dst = appendErrorHead(dst, AlreadyExists, msg)
	dst = AppendString(dst, keyspace)
	return AppendString(dst, table)
}

// AppendUnpreparedError appends an Unprepared (0x2500) error carrying the
// unknown id as [short bytes]; drivers re-prepare and retry on it.
func AppendUnpreparedError(dst []byte, msg string, id []byte) []byte {
	dst = appendErrorHead(dst, Unprepared, msg)
	return AppendShortBytes(dst, id)
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// ---- connection-level responses --------------------------------------------

// AppendReady appends a READY body, which is empty.
func AppendReady(dst []byte) []byte { return dst }

// AppendSupported appends a SUPPORTED body ([string multimap]) with keys in
// sorted order.
func AppendSupported(dst []byte, opts map[string][]string) []byte {
	return AppendStringMultimap(dst, opts)
}

// AppendAuthenticate appends an AUTHENTICATE body: the authenticator class
// name, e.g. "org.apache.cassandra.auth.PasswordAuthenticator".
func AppendAuthenticate(dst []byte, class string) []byte {
	return AppendString(dst, class)
}

// AppendAuthChallenge appends an AUTH_CHALLENGE body (a "bytes" token).
func AppendAuthChallenge(dst []byte, token []byte) []byte {
	return AppendBytes(dst, token)
}

// AppendAuthSuccess appends an AUTH_SUCCESS body (a "bytes" token; nil is
// null, which is what PasswordAuthenticator sends).
func AppendAuthSuccess(dst []byte, token []byte) []byte {
	return AppendBytes(dst, token)
}

// ---- RESULT -----------------------------------------------------------------

// AppendResultVoid appends a Void RESULT body.
func AppendResultVoid(dst []byte) []byte {
	return AppendInt(dst, ResultVoid)
}

// AppendResultSetKeyspace appends a Set_keyspace RESULT body (reply to USE).
func AppendResultSetKeyspace(dst []byte, keyspace string) []byte {
	dst = AppendInt(dst, ResultSetKeyspace)
	return AppendString(dst, keyspace)
}

// AppendResultSchemaChange appends a Schema_change RESULT body. The options
// written depend on target: KEYSPACE → keyspace; FUNCTION, AGGREGATE →
// keyspace, name, argTypes; anything else (TABLE, TYPE) → keyspace, name.
func AppendResultSchemaChange(dst []byte, change, target, keyspace, name string, argTypes []string) []byte {
	dst = AppendInt(dst, ResultSchemaChange)
	return appendSchemaChange(dst, change, target, keyspace, name, argTypes)
}

// AppendEventSchemaChange appends a SCHEMA_CHANGE EVENT body (send it on
// stream -1 to connections that REGISTERed for it).
func AppendEventSchemaChange(dst []byte, change, target, keyspace, name string, argTypes []string) []byte {
	dst = AppendString(dst, EventSchemaChange)
	return appendSchemaChange(dst, change, target, keyspace, name, argTypes)
}

func appendSchemaChange(dst []byte, change, target, keyspace, name string, argTypes []string) []byte {
	dst = AppendString(dst, change)
	dst = AppendString(dst, target)
	dst = AppendString(dst, keyspace)
	switch target {
	case TargetKeyspace:
		return dst
	case TargetFunction, TargetAggregate:
		dst = AppendString(dst, name)
		return AppendStringList(dst, argTypes)
	default:
		return AppendString(dst, name)
	}
}

// AppendEventTopologyChange appends a TOPOLOGY_CHANGE EVENT body; change is
// "NEW_NODE" or "REMOVED_NODE".
func AppendEventTopologyChange(dst []byte, change string, addr netip.Addr, port int32) []byte {
	dst = AppendString(dst, EventTopologyChange)
	dst = AppendString(dst, change)
	return AppendInet(dst, addr, port)
}

// AppendEventStatusChange appends a STATUS_CHANGE EVENT body; change is "UP"
// or "DOWN".
func AppendEventStatusChange(dst []byte, change string, addr netip.Addr, port int32) []byte {
	dst = AppendString(dst, EventStatusChange)
	dst = AppendString(dst, change)
	return AppendInet(dst, addr, port)
}

// ColumnSpec describes one result column or bind marker.
type ColumnSpec struct {
	Keyspace, Table, Name string
	// Type is the column type already encoded as an [option] by the type
	// system; it is copied verbatim.
	Type []byte
}

// RowsMetadata is the <metadata> of a Rows result (and, minus paging, of
// the two metadata blocks of a Prepared result).
type RowsMetadata struct {
	Columns []ColumnSpec
	// PagingState, when non-nil, sets Has_more_pages and is sent as the
	// [bytes] paging state. It should be non-empty: gocql only sends a
	// paging state back when it is, so an empty one restarts the query.
	PagingState []byte
	// NoMetadata sends the No_metadata flag with just the column count (the
	// client asked for Skip_metadata and has the columns from PREPARE).
	NoMetadata bool
	// ExtraFlags are ORed into the flags [int], for negotiated extensions
	// such as Scylla's SCYLLA_LWT_ADD_METADATA_MARK bit in prepared
	// metadata.
	ExtraFlags int32
}

// globalSpec reports whether every column shares one keyspace and table, in
// which case the spec lets us send the pair once (Global_tables_spec). gocql
// also takes the routing keyspace/table of a prepared statement from it.
func globalSpec(cols []ColumnSpec) bool {
	if len(cols) == 0 {
		return false
	}
	ks, t := cols[0].Keyspace, cols[0].Table
	for i := 1; i < len(cols); i++ {
		if cols[i].Keyspace != ks || cols[i].Table != t {
			return false
		}
	}
	return true
}

func appendColSpecs(dst []byte, cols []ColumnSpec, global bool) []byte {
	if global {
		dst = AppendString(dst, cols[0].Keyspace)
		dst = AppendString(dst, cols[0].Table)
	}
	for i := range cols {
		c := &cols[i]
		if !global {
			dst = AppendString(dst, c.Keyspace)
			dst = AppendString(dst, c.Table)
		}
		dst = AppendString(dst, c.Name)
		dst = append(dst, c.Type...)
	}
	return dst
}

// appendResultMetadata writes <flags><columns_count>[<paging_state>]
// [<global_table_spec>?<col_spec_1>...<col_spec_n>].
func appendResultMetadata(dst []byte, md *RowsMetadata) []byte {
	flags := md.ExtraFlags
	global := !md.NoMetadata && globalSpec(md.Columns)
	if global {
		flags |= MetaGlobalTablesSpec
	}
	if md.PagingState != nil {
		flags |= MetaHasMorePages
	}
	if md.NoMetadata {
		flags |= MetaNoMetadata
	}
	dst = AppendInt(dst, flags)
	dst = AppendInt(dst, int32(len(md.Columns)))
	if md.PagingState != nil {
		dst = AppendBytes(dst, md.PagingState)
	}
	if md.NoMetadata {
		return dst
	}
	return appendColSpecs(dst, md.Columns, global)
}

// AppendRowsHeader appends a Rows RESULT up to and including rows_count;
// append rowCount × len(md.Columns) cells with AppendCell after it. If the
// row count isn't known yet, pass 0 and patch it afterwards with
// PutInt(buf[end-4:], n), where end is len(dst) right after this call.
func AppendRowsHeader(dst []byte, md RowsMetadata, rowCount int) []byte {
	dst = AppendInt(dst, ResultRows)
	dst = appendResultMetadata(dst, &md)
	return AppendInt(dst, int32(rowCount))
}

// AppendCell appends one cell in "bytes" notation: nil is null, an empty non-nil
// slice is an empty value (the executor must keep the two apart).
func AppendCell(dst []byte, v []byte) []byte {
	return AppendBytes(dst, v)
}

// AppendResultPrepared appends a Prepared RESULT body:
// <id><metadata><result_metadata> in the v4 layout.
//
// bind describes the bind markers; its PagingState and NoMetadata are
// ignored (prepared metadata has neither). pkIndexes are the bind-marker
// indexes of the partition key columns in key order (empty when some key
// column is not bound), which drivers use for token-aware routing.
// result describes the rows an EXECUTE will return; with no columns (any
// non-SELECT) it is sent as No_metadata with 0 columns, as the spec
// describes. result.PagingState is ignored.
func AppendResultPrepared(dst []byte, id []byte, bind RowsMetadata, pkIndexes []uint16, result RowsMetadata) []byte {
	dst = AppendInt(dst, ResultPrepared)
	dst = AppendShortBytes(dst, id)

	flags := bind.ExtraFlags
	global := globalSpec(bind.Columns)
	if global {
		flags |= MetaGlobalTablesSpec
	}
	dst = AppendInt(dst, flags)
	dst = AppendInt(dst, int32(len(bind.Columns)))
	dst = AppendInt(dst, int32(len(pkIndexes)))
	for _, ix := range pkIndexes {
		dst = AppendShort(dst, ix)
	}
	dst = appendColSpecs(dst, bind.Columns, global)

	result.PagingState = nil
	if len(result.Columns) == 0 {
		result.NoMetadata = true
	}
	return appendResultMetadata(dst, &result)
}
