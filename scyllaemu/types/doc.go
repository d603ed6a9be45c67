// Package types is the CQL type system of scyllaemu, the in-process
// ScyllaDB-compatible CQL server.
//
// The package owns everything that depends on a value's CQL type and nothing
// else:
//
//   - the type model ([Type], [Kind]), parsing of CQL type text ([Parse]) and
//     its canonical rendering as found in system_schema.columns.type
//     ([Type.String]), and the protocol v4 [option] encoding of a type
//     ([AppendOption], [ReadOption]);
//   - validation of serialized values ([Type.Validate]);
//   - the CQL comparator ([Type.Compare]) that orders clustering keys, set
//     elements and map keys exactly like ScyllaDB;
//   - conversion of CQL constants to serialized values ([Type.FromLiteral]);
//   - collection and tuple (de)serialization ([PackCollection],
//     [UnpackCollection], [PackTuple], [UnpackTuple]);
//   - cqlsh-like display of values ([Type.Format]);
//   - time-UUID helpers used by CDC and by now(), minTimeuuid() and
//     maxTimeuuid() ([TimeUUIDFromMicros], [TimeUUIDMicros], [MinTimeUUID],
//     [MaxTimeUUID], [RandomUUID]);
//   - the Murmur3 partitioner and partition-key composition ([Murmur3Token],
//     [PartitionKeyBytes], [SplitPartitionKey]).
//
// # Values
//
// Values are always handled in their protocol v4 serialized form, as a
// []byte. A nil slice is NULL. A non-nil slice of length 0 is the legal
// "empty" value that Cassandra and ScyllaDB accept for every scalar type
// (for example an int column bound to a 0-byte value); it is distinct from
// NULL, it sorts before every other value and it is displayed as an empty
// string. The package never retains or mutates the slices it is given;
// functions that return sub-slices (UnpackCollection, UnpackTuple,
// SplitPartitionKey) alias the input and say so.
//
// Collections use the protocol v4 layout, which is also what ScyllaDB
// stores for frozen collections: an [int] element count followed by that
// many [int]-length-prefixed elements (for maps: key, value, key, value...).
// Tuples are a concatenation of [int]-length-prefixed components where a
// length of -1 is a NULL component.
//
// # Concurrency
//
// The package has no mutable package-level state. A *Type is immutable
// once built and may be shared freely between goroutines; all functions
// are safe for concurrent use.
package types
