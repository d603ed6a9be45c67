// Package wire owns the CQL native protocol v4 frame layer of scyllaemu: it
// reads request frames off a connection, decodes request message bodies
// (STARTUP, REGISTER, QUERY, PREPARE, EXECUTE, BATCH, AUTH_RESPONSE) and
// encodes response message bodies (ERROR, READY, AUTHENTICATE, SUPPORTED,
// RESULT, EVENT, AUTH_CHALLENGE, AUTH_SUCCESS) and frame headers.
//
// It knows nothing about CQL text, schemas or value types: bound values and
// result cells travel as opaque byte strings, and column types arrive
// pre-encoded as [option] bytes from the type system. Connection state
// (whether STARTUP happened, which opcodes are allowed, stream bookkeeping)
// belongs to the server; this package only guarantees that what it hands out
// was well-formed and that what it writes is.
//
// The package is on the request hot path, so it is built around three rules:
//
//   - Decoders never copy bound values: every []byte they return (bound
//     values, prepared ids, paging states, auth tokens, QUERY text from the
//     *Into variants) is a sub-slice of the frame body and is only valid
//     until that body buffer is reused for the next frame. Strings are
//     copied, because callers keep them (prepared-statement caches, names).
//   - Encoders are append-style (AppendXxx(dst, ...) []byte) over a
//     caller-supplied buffer, so a connection can build every response in
//     one reused []byte; StartFrame/FinishFrame let the body be encoded in
//     place behind its header without an intermediate copy.
//   - Nothing trusts a length or count read from the wire: counts are checked
//     against the bytes actually remaining before anything is allocated,
//     malformed input yields a *DecodeError or *FrameError (never a panic),
//     and ReadFrame grows its buffer only as body bytes really arrive.
//
// Only protocol version 4 is spoken. Other versions get a
// *ProtocolVersionError whose response text lets gocql (and the other
// drivers) downgrade/upgrade to 4. Compression is never advertised, so
// compressed frames are rejected.
package wire
