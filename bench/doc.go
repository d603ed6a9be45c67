// Package bench measures the relay: end-to-end latency at a steady write
// rate, drain throughput of a backlog, the relay's CPU time and peak memory,
// all side by side with a raw sarama producer sending the same number of
// same-sized messages to the same broker — the physical limit of the
// machine the numbers come from.
//
// The relay always runs as a separate process (Options.RelayCommand, which
// re-executes a binary that calls [RunRelayChild]), so its CPU seconds
// (/proc/<pid>/stat) and peak RSS (/proc/<pid>/status VmHWM) are its own
// and not mixed with the database, the broker or the load generator. The
// bench process holds everything else: the embedded stack (unless hosts
// are given), the order writers, the consumer, and the clock every latency
// is measured with.
//
// Workloads, for each processor (cdc, polling):
//
//   - steady: Rate events/s for Duration, one event per
//     storage.OrderStore.Save (orders are created, then updated, so each
//     aggregate carries several events), latency per event from the moment
//     its Save returned to the moment the bench's Kafka consumer read it;
//   - failover: the steady workload through two relays of one relay name
//     (one active, one standby, the default election timing); the active
//     one is killed with SIGKILL halfway through the writes. Measured: the
//     gap from the kill to the first record its successor published (its
//     Kafka timestamp), the latency p99 against the steady run's,
//     duplicates (by event id) and per-aggregate order;
//   - backlog: Backlog events written while no relay runs, then a relay is
//     started and timed until the consumer has every event.
//
// Options.Workloads selects among them (`--workloads`); failover brings
// steady along, its reference.
//
// Every run gets its own keyspace and topic, so cursors, CDC progress and
// earlier records never leak between runs; keyspaces are dropped after the
// run. Each run checks delivery: every event arrives, duplicates and
// per-aggregate order violations are counted.
//
// The results are a human table ([Report.WriteTable]), a JSON report and
// an SVG histogram of the steady latencies. Given the report of an earlier
// run (Options.ComparePath), the report also holds a [Comparison]: each
// figure's change, regressions beyond a threshold flagged ([Compare]). The package's README has the
// figures of the full run on the reference machine and the tuning notes.
package bench
