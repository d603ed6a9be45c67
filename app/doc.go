// Package app wires the components into the running services — the order
// service (OrderActor over the gocqlx store), the relay (CDC or polling
// processor, publisher, dead-letter queue) and the embedded stack — so that
// the binaries in cmd stay wiring-free and the integration tests exercise
// exactly what users run.
package app
