package actors

// The CdcProcessorActor's own messages ([NewCDCProcessorProps]); the ones
// it shares with the polling processor are in processor_messages.go.

// readerStopped reports that the scylla-cdc-go reader returned; unless the
// processor is stopping, it is restarted after CDCSource.RestartDelay.
type readerStopped struct{ err error }

// startReader is the restart timer.
type startReader struct{}
