package actors

// Drain asks a top-level actor spawned with [Drainable] to finish the work
// it has accepted and refuse new work, ahead of being stopped by
// [System.Shutdown]. It exists because stopping a parent stops its children
// at once, and protoactor silently discards what is still in their
// mailboxes: those callers would wait for a reply until their timeout.
//
// Received by: the order actor ([NewOrderProps]). Reply: [*Drained] once
// every child has stopped.
type Drain struct{}

// Drained is the reply to [*Drain].
type Drained struct {
	// Err is work the actor could not finish: for a processor, progress it
	// could not save (a restart publishes those events again).
	Err error
}
