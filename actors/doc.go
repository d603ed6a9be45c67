// Package actors owns the supervised actor system of scylla-outbox, built on
// protoactor-go: the system wrapper that routes protoactor's logs to zap and
// logs supervision and dead letters ([System]), the restart policy
// ([NewSupervisorStrategy]), the write side ([NewOrderProps]: one actor per
// active order, so commands for one order are applied one at a time while
// different orders proceed in parallel), the relay's processors
// ([NewCDCProcessorProps], [NewPollingProcessorProps]: the same
// relay.Pipeline fed by the CDC log or by outbox_by_bucket, with a ledger
// bounding what is in flight and progress saved every ProgressInterval),
// the only writer of the dead-letter queue ([NewDLQProps]) and the single
// owner of metric updates ([NewMetricsProps]).
//
// # Surviving restarts
//
// A processor's state — pipeline, ledger, source bookkeeping — lives outside
// the actor instance, so a supervisor restart loses only the message being
// handled: the new instance re-offers what that message carried, re-issues
// effects whose outcome may be lost, and clears what a lost reply would
// have cleared. Periodic work (gauges, progress saves, the dead-letter
// index) runs on repeating timers, so a dropped tick never ends it.
//
// # Conventions
//
// Each actor's messages live in one file named after it (order_messages.go,
// metrics_messages.go) and are sent as pointers; the doc comment of each
// message says who receives it and what, if anything, is replied. Requests
// are answered with ctx.Respond, so callers use RequestFuture (or
// [AskOrder]); a protoactor Future wakes only one waiter, so exactly one
// goroutine may wait on each Future. Metric messages are fire-and-forget
// (Send), never requests.
//
// Timers go through protoactor's scheduler with the system's root context
// (using the actor's own context races inside protoactor) and are cancelled
// on Stopping and Restarting; actor code never sleeps.
//
// A panic inside an actor is recovered by protoactor, the message being
// handled is dropped (its caller's Future times out), and the parent's
// supervisor strategy decides: [NewSupervisorStrategy] restarts it within a
// configurable limit and logs both the failure and the decision.
//
// Default mailboxes are unbounded. Order children use the default because a
// bounded mailbox would block the routing parent, which must never block;
// backpressure belongs at the edge (the caller's request timeout).
package actors
