// Package messaging owns the relay's side of Kafka: turning a committed
// [outbox.Record] into a Kafka record (topic, key, value, headers), sending it
// with an idempotent, ordered producer, and telling the caller — exactly once
// per record — whether the broker acknowledged it or why not, classified as
// [Transient] or [Permanent]. It also offers [Consume], a small reader used by
// tests and the demo to read topics back.
//
// The package does not retry across calls, keep a circuit breaker or write a
// dead-letter queue: the processor actor owns those policies. Inside one
// call the producer does retry, for a bounded window
// ([Config.DeliveryTimeout]): a retry by the producer resends the same batch
// with the same sequence numbers, which the broker deduplicates, while a
// retry by the caller is a new record, which it cannot. A broker outage
// still surfaces quickly as a Transient error, because sarama stops retrying
// once no broker answers a metadata request; [IsUnavailable] tells the
// caller such a failure is not the record's fault, and [IsAmbiguous] whether
// the failed record may be in the topic all the same.
//
// A [Publisher] can be created while no broker answers (a relay restarted
// during an outage): it connects in the background and fails records as
// unavailable until then.
//
// The package also elects one active relay among the processes that share a
// relay name ([Elector]), through Kafka's consumer group protocol; see
// Election below.
//
// # Records on the wire
//
// The record key is the aggregate id (its canonical UUID string), so every
// event of one aggregate hashes to one partition and Kafka keeps them in
// order. The value is the envelope payload, byte for byte as written in the
// outbox batch. Metadata travels in headers, named by the Header* constants:
// consumers deduplicate on [HeaderEventID] and may drop any event whose
// [HeaderSequence] is not above the last one they applied. The topic comes
// from [Config.TopicTemplate], by default "outbox.event.{{.AggregateType}}",
// as Debezium's outbox event router does.
//
// The Kafka record timestamp is left to the producer (publish time) on
// purpose: time-based retention and the broker's timestamp checks apply to
// it, and a record replayed from the dead-letter queue days later must not be
// born already expired. The event time is in [HeaderOccurredAt].
//
// # Ordering
//
// The producer is configured the way Kafka requires for ordering under
// retries: idempotence on, acks from all in-sync replicas, one request in
// flight per broker connection. Records of one aggregate published in order
// are therefore written in order as long as they succeed. After a failure,
// records published behind the failed one may still be written, so a caller
// that needs strict per-aggregate order keeps at most one record of an
// aggregate in flight, or stops the aggregate at its first error; the
// processor actor does the former.
//
// # Errors
//
// Every failure a caller sees is a [*PublishError] whose Kind is the result
// of [Classify] (refined by the publisher where the error alone is
// ambiguous). Transient means the broker or the connection is unable right
// now and the same record will succeed later: retry, and let the breaker stop
// traffic while it lasts. Permanent means the record or its destination topic
// is at fault and retrying cannot help: park the record in the dead-letter
// queue and move on. See [Classify] for the full table.
//
// # Election
//
// An [Elector] makes its process a member of a consumer group
// ([ElectionConfig.Group]) subscribed to a one-partition coordination topic;
// the member given partition 0 leads, and its leader.Handler hears
// Elected and Revoked. The broker does the hard part — membership,
// heartbeats, session timeouts, a generation number per rebalance — so the
// relay needs no consensus of its own and no service besides the cluster
// it already uses.
//
// Two choices keep a live leader in place. The group's assignment strategy
// gives partition 0 to the member that holds it already, if it is still in
// the group, and otherwise to the member with the smallest id; and the group
// uses the cooperative rebalance protocol (hence Kafka protocol 2.4+), in
// which a member keeps its partitions through a rebalance. Under the eager
// protocol every rebalance — every standby that starts or stops — revokes
// every partition first: the leader would be revoked and re-elected each
// time (measured: 100–170 ms without a leader per standby join).
//
// A leader that leaves ([Elector.Close], or the end of Run's context) sends
// LeaveGroup after its handler's Revoked has returned, and a standby takes
// over on its next heartbeat: about one [ElectionConfig.HeartbeatInterval].
// A leader that stops heartbeating (killed, paused, cut off) is replaced
// once the broker's session timeout expires, about
// [ElectionConfig.SessionTimeout] later; it learns it was dropped only when
// it hears from the broker again, or after its own requests time out, so
// two processes may both believe they lead for a while. A [Term]'s
// generation orders terms within the life of the group, but the group, and
// its generations, start over after it has been empty long enough for Kafka
// to forget it: work guarded by the election must be fenced by an epoch
// kept where that work is stored.
package messaging
