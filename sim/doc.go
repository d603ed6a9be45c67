// Package sim is a deterministic, seeded simulation of the relay's delivery
// logic under faults. It runs the real relay.Pipeline, cdc.Stream consumers
// and polling.Cursor against simulated sources (scylla-cdc-go's reader with
// its windows and generation switches, outbox_by_bucket polls), a simulated
// broker and a simulated database, with the processor actors' glue modelled
// (ledger, inbox, panic recovery, DLQ writes, held-aggregate refresh).
//
// Faults come from the seed: broker outages, acknowledgements delayed,
// reordered or lost after the broker appended, permanent and retriable
// rejections, malformed rows, DLQ and progress write failures, failed reads,
// actor panics, reader restarts, crashes that lose in-memory state, CDC
// generation switches and writes that become visible late (within the
// configured margins). After each run the invariants are checked: every
// committed event is published or in the DLQ; DLQ entries only for poison,
// malformed rows, retriable rejections while the broker acknowledged
// others, or held behind those; first deliveries per aggregate in sequence
// order; every duplicate explained by a crash or counted as a re-publish;
// in-flight bounded by the limit.
//
// Half the seeds run two relays under one relay name (node.go): each runs
// the real leader.Machine with its own processor, a simulated Kafka group
// elects one (drops a member that misses its session, tells members at
// their heartbeats, keeps a term across an unreachable group) and the
// database's epoch store takes epochs by compare-and-set and rejects
// progress writes of a stale epoch. Each relay process has one DLQ actor
// (dlq.go) that checks the writer's epoch before each write, as two steps.
// Their faults: pauses across the session timeout (zombies), kills of the
// active relay, graceful handovers, and the group unreachable for all or
// for the active relay alone. Their invariants: no stale progress write
// applied, progress never backwards, processors only under an epoch their
// relay took for its current term, at most one processor under the newest
// epoch, a processor fenced only once a newer epoch was taken, a relay
// that learns it lost (revoked, fenced) stops its processor at once, a
// relay that can reach the group never takes the relay back before it
// hears, a stopped relay drains, no event published twice across a clean
// handover, every copy in the topic the committed event, one relay active
// at the end, and no dead letter written for a stale epoch unless its
// epoch check passed before the newer epoch was taken. Three behaviours
// of the design are counted, not failed: such a raced dead letter (its
// event may be published too, and under the hold policy later events of
// its aggregate may be published before the new leader loads it), a
// zombie publishing an event the new leader dead-lettered (publishes
// cannot be fenced), and a relay that asks for an epoch on a retry handled
// just before the Revoked its elector had queued.
//
// A run is a pure function of its seed: a failing seed replays exactly with
// `go test ./sim -run TestSimulation -sim.seed=N -v`.
package sim
