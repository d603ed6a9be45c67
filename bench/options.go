package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/scylla-outbox/scylla-outbox/messaging"
	"github.com/scylla-outbox/scylla-outbox/outbox"
)

// Workloads, as [Options.Workloads] names them.
const (
	// WorkloadSteady writes Rate events/s for Duration through one relay
	// and measures end-to-end latency.
	WorkloadSteady = "steady"
	// WorkloadFailover is the steady workload through two relays of one
	// relay name, the active one killed (SIGKILL) halfway through: the
	// gap until its successor publishes, and the latency it costs against
	// the steady run. It runs the steady workload too, its reference.
	WorkloadFailover = "failover"
	// WorkloadBacklog drains Backlog events written while no relay ran,
	// and times the raw-producer baseline on the same number of messages.
	WorkloadBacklog = "backlog"
)

// AllWorkloads lists every workload, in the order a run measures them.
func AllWorkloads() []string { return []string{WorkloadSteady, WorkloadFailover, WorkloadBacklog} }

// Options configure [Run]. Zero fields take the defaults of the full run,
// or of the quick run when Quick is set.
type Options struct {
	// Processors to measure; default both ("cdc", "polling").
	Processors []string
	// Workloads to run, of [AllWorkloads]; default all of them.
	// WorkloadFailover brings WorkloadSteady along: its extra p99 is
	// measured against the steady run of the same invocation.
	Workloads []string
	// Rate (events/s) and Duration of the steady workload and of the
	// failover run. Default 1,000/s for 30 s (quick: 10 s). A negative
	// Rate skips both.
	Rate     int
	Duration time.Duration
	// Backlog is the number of events of the backlog workload and of the
	// baseline. Default 100,000 (quick: 10,000). Negative skips both.
	Backlog int
	// EventsPerOrder is how many events each order carries: created, then
	// updated. Default 5.
	EventsPerOrder int
	// Quick selects small sizes: the whole run takes well under two
	// minutes on a 2-core machine.
	Quick bool
	// ScyllaHosts and KafkaBrokers name an existing cluster and broker;
	// both empty starts the embedded stack in this process.
	ScyllaHosts, KafkaBrokers []string
	// Consistency of the writers and the relay; default ONE on the
	// embedded stack, LOCAL_QUORUM otherwise.
	Consistency string
	// Partitions of each run's topic; default 3 (the embedded broker's
	// default).
	Partitions int32
	// ReplicationFactor of each run's topic; default 1 on the embedded
	// stack, the broker's default (-1) otherwise.
	ReplicationFactor int16
	// MaxInFlight, PollInterval, PollSafetyWindow and PollBatch override
	// the relay child's low-latency profile (see [RelaySettings]).
	MaxInFlight      int
	PollInterval     time.Duration
	PollSafetyWindow time.Duration
	PollBatch        int
	// RelayGOGC sets the relay child's GOGC (0: Go's default, 100).
	RelayGOGC int
	// Linger is the producer linger of the relay and of the baseline
	// (messaging.Config.Linger): zero is messaging.DefaultLinger, the
	// relay's default; negative is none, each batch sent as soon as the
	// request before it is answered.
	Linger time.Duration
	// SteadyWriters and BacklogWriters are the writer goroutines (default
	// 16 and 32).
	SteadyWriters, BacklogWriters int
	// RelayCommand returns the command of a relay child process, with env
	// (this process's environment plus the child's settings) as its
	// environment; the process must call [RunRelayChild]. Default
	// [SelfCommand](): re-execute this binary.
	RelayCommand func(ctx context.Context, env []string) *exec.Cmd
	// BaselineMax caps the baseline's messages: it measures a rate, and
	// a million prepared messages would take GiBs of the bench process.
	// Default 200,000; negative: no cap (the backlog's size).
	BaselineMax int
	// CPUProfileDir, if set, makes every relay child write a CPU profile
	// there (<workload>-<processor>.pprof).
	CPUProfileDir string
	// HeapProfileDir, if set, makes every relay child but the failover's
	// (two relays of one run, one of them killed) write heap profiles
	// there: <workload>-<processor>-peak.heap.pprof when its live heap
	// reached its highest (rewritten at each new high), and
	// <workload>-<processor>-end.heap.pprof when it is stopped (a backlog
	// relay: at the end of the drain), with the allocation totals of the
	// whole run. This process writes stack-backlog-<processor>.heap.pprof
	// once each backlog is written: the embedded stack holding it.
	HeapProfileDir string
	// ComparePath, if set, names the JSON report of an earlier run: the
	// report gains a [Comparison] with it, and the table a section.
	// CompareThreshold is the change in percent beyond which a figure is
	// flagged (default [DefaultCompareThreshold]).
	ComparePath      string
	CompareThreshold float64
	// JSONPath and SVGPath, if set, receive the JSON report and the
	// latency histogram.
	JSONPath, SVGPath string
	// Out receives the table; Progress one line per step and the relay
	// children's stderr. Nil discards.
	Out, Progress io.Writer
	// Command is recorded in the report as the command that ran; default
	// the process's arguments.
	Command string
}

// DefaultBaselineMax is the default Options.BaselineMax.
const DefaultBaselineMax = 200_000

// baselineMessages is how many messages the baseline sends: the backlog's
// size, capped by BaselineMax. o has its defaults.
func (o Options) baselineMessages() int {
	if o.BaselineMax > 0 {
		return min(o.Backlog, o.BaselineMax)
	}
	return o.Backlog
}

// withDefaults fills zero fields.
func (o Options) withDefaults() Options {
	if len(o.Processors) == 0 {
		o.Processors = []string{outbox.ProcessorCDC, outbox.ProcessorPolling}
	}
	if len(o.Workloads) == 0 {
		o.Workloads = AllWorkloads()
	}
	if o.Rate == 0 {
		o.Rate = 1000
	}
	if o.Duration == 0 {
		o.Duration = 30 * time.Second
		if o.Quick {
			o.Duration = 10 * time.Second
		}
	}
	if o.Backlog == 0 {
		o.Backlog = 100_000
		if o.Quick {
			o.Backlog = 10_000
		}
	}
	if o.EventsPerOrder <= 0 {
		o.EventsPerOrder = 5
	}
	switch {
	case o.Linger == 0:
		o.Linger = messaging.DefaultLinger
	case o.Linger < 0:
		o.Linger = 0
	}
	external := len(o.ScyllaHosts) > 0
	if o.Consistency == "" {
		o.Consistency = "ONE"
		if external {
			o.Consistency = "LOCAL_QUORUM"
		}
	}
	if o.Partitions <= 0 {
		o.Partitions = 3
	}
	if o.ReplicationFactor == 0 {
		o.ReplicationFactor = 1
		if external {
			o.ReplicationFactor = -1
		}
	}
	if o.SteadyWriters <= 0 {
		o.SteadyWriters = 16
	}
	if o.BacklogWriters <= 0 {
		o.BacklogWriters = 32
	}
	if o.BaselineMax == 0 {
		o.BaselineMax = DefaultBaselineMax
	}
	if o.CompareThreshold <= 0 {
		o.CompareThreshold = DefaultCompareThreshold
	}
	if o.RelayCommand == nil {
		o.RelayCommand = SelfCommand()
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return o
}

func (o Options) validate() error {
	var errs []error
	for _, p := range o.Processors {
		if p != outbox.ProcessorCDC && p != outbox.ProcessorPolling {
			errs = append(errs, fmt.Errorf("bench: processor %q: want cdc or polling", p))
		}
	}
	for _, w := range o.Workloads {
		if !slices.Contains(AllWorkloads(), w) {
			errs = append(errs, fmt.Errorf("bench: workload %q: want one of %s", w, strings.Join(AllWorkloads(), ", ")))
		}
	}
	if (len(o.ScyllaHosts) == 0) != (len(o.KafkaBrokers) == 0) {
		errs = append(errs, errors.New("bench: give both ScyllaHosts and KafkaBrokers, or neither for the embedded stack"))
	}
	if o.Rate > 0 && o.Duration < 0 {
		errs = append(errs, errors.New("bench: Duration must not be negative"))
	}
	return errors.Join(errs...)
}

// runs reports whether workload w is part of the run: selected (steady
// also when failover is) and not switched off by a negative Rate or
// Backlog. o has its defaults.
func (o Options) runs(w string) bool {
	selected := slices.Contains(o.Workloads, w) ||
		(w == WorkloadSteady && slices.Contains(o.Workloads, WorkloadFailover))
	switch {
	case !selected:
		return false
	case w == WorkloadBacklog:
		return o.Backlog > 0
	default:
		return o.Rate > 0 && o.Duration > 0
	}
}

// RegisterFlags binds o's fields to flags on fs, so `outbox bench` and the
// stand-alone command parse the same options. Lists are comma-separated.
func (o *Options) RegisterFlags(fs *flag.FlagSet) {
	fs.BoolVar(&o.Quick, "quick", o.Quick, "small sizes: the whole run takes under two minutes")
	fs.Func("processors", "comma-separated processors to measure (default cdc,polling)", func(s string) error {
		o.Processors = splitList(s)
		return nil
	})
	fs.Func("workloads", "comma-separated workloads: steady, failover (runs steady too), backlog (with the baseline) (default all)", func(s string) error {
		o.Workloads = splitList(s)
		return nil
	})
	fs.IntVar(&o.Rate, "rate", o.Rate, "steady and failover rate in events/s (default 1000; negative skips both)")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "steady and failover duration (default 30s, quick 10s)")
	fs.IntVar(&o.Backlog, "backlog", o.Backlog, "backlog and baseline size in events (default 100000, quick 10000; negative skips them)")
	fs.IntVar(&o.EventsPerOrder, "events-per-order", o.EventsPerOrder, "events per order: created, then updated (default 5)")
	fs.Func("scylla-hosts", "comma-separated ScyllaDB contact points (default: embedded stack)", func(s string) error {
		o.ScyllaHosts = splitList(s)
		return nil
	})
	fs.Func("kafka-brokers", "comma-separated Kafka brokers (default: embedded stack)", func(s string) error {
		o.KafkaBrokers = splitList(s)
		return nil
	})
	fs.StringVar(&o.Consistency, "consistency", o.Consistency, "consistency level (default ONE embedded, LOCAL_QUORUM otherwise)")
	fs.IntVar(&o.MaxInFlight, "max-in-flight", o.MaxInFlight, fmt.Sprintf("relay records read but not finished (default %d)", DefaultMaxInFlight))
	fs.DurationVar(&o.PollInterval, "poll-interval", o.PollInterval, fmt.Sprintf("polling processor interval (default %s)", DefaultPollInterval))
	fs.IntVar(&o.PollBatch, "poll-batch", o.PollBatch, fmt.Sprintf("polling processor records per poll (default %d)", DefaultPollBatch))
	fs.DurationVar(&o.PollSafetyWindow, "poll-safety-window", o.PollSafetyWindow, fmt.Sprintf("polling processor safety window (default %s)", DefaultPollSafetyWindow))
	fs.IntVar(&o.RelayGOGC, "relay-gogc", o.RelayGOGC, "GOGC of the relay process (default: Go's, 100)")
	fs.DurationVar(&o.Linger, "linger", o.Linger, fmt.Sprintf("producer linger of the relay and the baseline (default %s, the relay's; negative: none)", messaging.DefaultLinger))
	fs.StringVar(&o.CPUProfileDir, "cpuprofile-dir", o.CPUProfileDir, "write a CPU profile of every relay child to this directory")
	fs.StringVar(&o.HeapProfileDir, "memprofile-dir", o.HeapProfileDir, "write heap profiles of the relay children (at their highest live heap, and when stopped) and of the bench process (each backlog written) to this directory")
	fs.IntVar(&o.BaselineMax, "baseline-max", o.BaselineMax, fmt.Sprintf("cap of the baseline's messages, a sample of a larger backlog (default %d; negative: no cap)", DefaultBaselineMax))
	fs.StringVar(&o.ComparePath, "compare", o.ComparePath, "a JSON report of an earlier run: print each figure's change against it, and add it to the report")
	fs.Float64Var(&o.CompareThreshold, "compare-threshold", o.CompareThreshold, fmt.Sprintf("with --compare, flag a change beyond this many percent in a figure's worse direction (default %g)", DefaultCompareThreshold))
	fs.StringVar(&o.JSONPath, "json", o.JSONPath, "write the JSON report here")
	fs.StringVar(&o.SVGPath, "svg", o.SVGPath, "write the latency histogram (SVG) here")
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
