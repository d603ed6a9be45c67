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
// A run is a pure function of its seed: a failing seed replays exactly with
// `go test ./sim -run TestSimulation -sim.seed=N -v`.
package sim
