package app

import (
	"testing"
	"time"

	"github.com/scylla-outbox/scylla-outbox/actors"
	"github.com/scylla-outbox/scylla-outbox/cdc"
	"github.com/scylla-outbox/scylla-outbox/outbox"
)

// On a real cluster the window must exceed the writers' timeout; the
// defaults do, the low-latency profile does not.
func TestVisibilityMargin(t *testing.T) {
	timeout := 5 * time.Second
	for _, c := range []struct {
		name    string
		cfg     RelayConfig
		setting string
		ok      bool
	}{
		{"cdc default window", RelayConfig{Processor: outbox.ProcessorCDC}, "cdc.confidence_window", true},
		{"cdc low-latency", RelayConfig{Processor: outbox.ProcessorCDC, CDC: cdc.LowLatency(cdc.ReaderConfig{})}, "cdc.confidence_window", false},
		{"cdc equal to the timeout", RelayConfig{Processor: outbox.ProcessorCDC, CDC: cdc.ReaderConfig{ConfidenceWindow: timeout}}, "cdc.confidence_window", false},
		{"polling default window", RelayConfig{Processor: outbox.ProcessorPolling}, "polling.safety_window", true},
		{"polling 2s", RelayConfig{Processor: outbox.ProcessorPolling, Polling: actors.PollingSource{SafetyWindow: 2 * time.Second}}, "polling.safety_window", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.WriteTimeout = timeout
			setting, _, ok := visibilityMargin(c.cfg)
			if setting != c.setting || ok != c.ok {
				t.Fatalf("got %s ok=%v, want %s ok=%v", setting, ok, c.setting, c.ok)
			}
		})
	}
}
