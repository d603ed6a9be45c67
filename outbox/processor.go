package outbox

// The relay's processors: where it reads the outbox. They name the
// --processor setting, the `processor` metric label and the DLQ column.
const (
	// ProcessorCDC reads the outbox table's CDC log.
	ProcessorCDC = "cdc"
	// ProcessorPolling reads outbox_by_bucket.
	ProcessorPolling = "polling"
)

// IsProcessor reports whether name is a processor.
func IsProcessor(name string) bool { return name == ProcessorCDC || name == ProcessorPolling }
