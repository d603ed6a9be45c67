package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of [Run]: the machine, every setting used, and the
// figures. It is written as JSON (Options.JSONPath) and as a table
// ([Report.WriteTable]).
type Report struct {
	Machine  Machine          `json:"machine"`
	Settings Settings         `json:"settings"`
	Steady   []SteadyResult   `json:"steady"`
	Failover []FailoverResult `json:"failover"`
	Backlog  []BacklogResult  `json:"backlog"`
	Baseline BaselineResult   `json:"baseline"`
	// Targets are the goals of the benchmark issue, checked against the
	// figures above.
	Targets []Target `json:"targets"`
	// Errors lists what went wrong in runs that still produced figures
	// (for example events that never arrived).
	Errors  []string  `json:"errors,omitempty"`
	Started time.Time `json:"started"`
	Elapsed Duration  `json:"elapsed_ms"`
	// Comparison sets the figures against a previous report
	// (Options.ComparePath), if one was given.
	Comparison *Comparison `json:"comparison,omitempty"`
}

// Machine is where the figures were measured.
type Machine struct {
	Cores       int    `json:"cores"`
	CPUModel    string `json:"cpu_model"`
	MemoryBytes int64  `json:"memory_bytes"`
	GoVersion   string `json:"go_version"`
	OS          string `json:"os"`
	Arch        string `json:"arch"`
	// ClockTicks is the unit of /proc CPU times (CLK_TCK);
	// ClockTicksAssumed says it was assumed (100) because getconf failed.
	ClockTicks        int  `json:"clock_ticks"`
	ClockTicksAssumed bool `json:"clock_ticks_assumed"`
}

// Settings are the exact settings of the run.
type Settings struct {
	// Command is the command line of the bench process.
	Command        string   `json:"command"`
	Quick          bool     `json:"quick"`
	Processors     []string `json:"processors"`
	Workloads      []string `json:"workloads"`
	Rate           int      `json:"rate"`
	Duration       Duration `json:"duration_ms"`
	Backlog        int      `json:"backlog"`
	EventsPerOrder int      `json:"events_per_order"`
	// PayloadBytes is the mean event payload size of the workload.
	PayloadBytes   int `json:"payload_bytes"`
	SteadyWriters  int `json:"steady_writers"`
	BacklogWriters int `json:"backlog_writers"`
	// BaselineMax caps the baseline's messages (0: no cap); see
	// BaselineResult.BacklogEvents.
	BaselineMax int `json:"baseline_max,omitempty"`
	// Settle is how long a steady run waits after the relay is ready
	// before writing, so the reader's first queries are behind it.
	Settle Duration `json:"settle_ms"`
	// Stack is "embedded" (scyllaemu and kfake in the bench process) or
	// "external".
	Stack        string   `json:"stack"`
	ScyllaHosts  []string `json:"scylla_hosts"`
	KafkaBrokers []string `json:"kafka_brokers"`
	Partitions   int32    `json:"partitions"`
	// Relay holds the relay settings shared by every run (per-run
	// keyspace, topic and start time are in each result).
	Relay    RelaySettings    `json:"relay"`
	Producer ProducerSettings `json:"producer"`
}

// ProducerSettings describe the Kafka producer of both the relay
// (messaging.Publisher) and the baseline, which copies them.
type ProducerSettings struct {
	KafkaVersion    string `json:"kafka_version"`
	Idempotent      bool   `json:"idempotent"`
	Acks            string `json:"acks"`
	MaxOpenRequests int    `json:"max_open_requests"`
	RetryMax        int    `json:"retry_max"`
	MaxMessageBytes int    `json:"max_message_bytes"`
	Partitioner     string `json:"partitioner"`
	// Linger is how long a batch waits for more records (sarama's
	// Flush.Frequency, Java's linger.ms); zero sends what is queued as
	// soon as the previous request is answered.
	Linger Duration `json:"linger_ms"`
	// Flush says in words when a batch leaves.
	Flush string `json:"flush"`
}

// SteadyResult is one processor's steady-rate run.
type SteadyResult struct {
	Processor string `json:"processor"`
	// Rate is the target in events/s; AchievedRate what the writers did.
	Rate         int     `json:"rate"`
	AchievedRate float64 `json:"achieved_rate"`
	Events       int     `json:"events"`
	Received     int     `json:"received"`
	Missing      int     `json:"missing"`
	Duplicates   int     `json:"duplicates"`
	OutOfOrder   int     `json:"out_of_order"`
	// End-to-end latency: Save returned → consumed from Kafka.
	Min  Duration `json:"min_ms"`
	P50  Duration `json:"p50_ms"`
	P95  Duration `json:"p95_ms"`
	P99  Duration `json:"p99_ms"`
	Max  Duration `json:"max_ms"`
	Mean Duration `json:"mean_ms"`
	// ConfidenceWindow is the CDC reader's deliberate delay (0 for
	// polling), and ConfidenceShare its part of P99.
	ConfidenceWindow Duration `json:"confidence_window_ms"`
	ConfidenceShare  float64  `json:"confidence_share"`
	// PollDelay is the processor's idle poll period (CDC: post-empty
	// query delay; polling: interval): up to it is added to a change
	// that lands while the processor is idle.
	PollDelay Duration `json:"poll_delay_ms"`
	// WriterSaveP99 is the 99th percentile of Save itself.
	WriterSaveP99     Duration `json:"writer_save_p99_ms"`
	StartupSeconds    float64  `json:"startup_seconds"`
	RelayCPUSeconds   float64  `json:"relay_cpu_seconds"`
	CPUSecondsPer1000 float64  `json:"cpu_seconds_per_1000"`
	PeakRSSBytes      int64    `json:"peak_rss_bytes"`
	// Histogram is the latency distribution drawn in the SVG.
	Histogram []Bucket      `json:"histogram"`
	Relay     RelaySettings `json:"relay"`
}

// FailoverResult is one processor's failover run: the steady workload
// through Relays relays of one relay name, the active one killed with
// SIGKILL KillAfterSeconds into the writes.
type FailoverResult struct {
	Processor    string  `json:"processor"`
	Relays       int     `json:"relays"`
	Rate         int     `json:"rate"`
	AchievedRate float64 `json:"achieved_rate"`
	Events       int     `json:"events"`
	Received     int     `json:"received"`
	Missing      int     `json:"missing"`
	// Duplicates are events delivered more than once (by event id): those
	// the killed relay had published but not yet recorded as done. They
	// are allowed (at-least-once); missing and out-of-order events are
	// not.
	Duplicates       int     `json:"duplicates"`
	OutOfOrder       int     `json:"out_of_order"`
	KillAfterSeconds float64 `json:"kill_after_seconds"`
	// GapSeconds runs from the SIGKILL to the Kafka timestamp of the
	// earliest record published after the killed relay was reaped: the
	// successor's first publish (a duplicate counts). ReceivedGapSeconds
	// runs to the consumer's receipt of the first such record.
	GapSeconds         float64 `json:"gap_seconds"`
	ReceivedGapSeconds float64 `json:"received_gap_seconds"`
	// TakeoverSeconds runs from the SIGKILL to the successor reporting
	// itself active (its role, asked every 20 ms): the election's share
	// of the gap; the rest is taking the epoch and reading from the saved
	// progress up to the first publish.
	TakeoverSeconds float64 `json:"takeover_seconds"`
	// End-to-end latency of every event of the run, as in SteadyResult.
	Min  Duration `json:"min_ms"`
	P50  Duration `json:"p50_ms"`
	P95  Duration `json:"p95_ms"`
	P99  Duration `json:"p99_ms"`
	Max  Duration `json:"max_ms"`
	Mean Duration `json:"mean_ms"`
	// SteadyP99 is the p99 of the same processor's steady run (same rate,
	// same invocation, one relay, no failure), and ExtraP99 = P99 -
	// SteadyP99: what the failover adds.
	SteadyP99 Duration `json:"steady_p99_ms"`
	ExtraP99  Duration `json:"extra_p99_ms"`
	// Timeline counts the events consumed in each TimelineStep after the
	// writes started: the gap shows as empty steps.
	TimelineStep Duration      `json:"timeline_step_ms"`
	Timeline     []int         `json:"timeline"`
	Relay        RelaySettings `json:"relay"`
}

// Bucket is one histogram bar: Count latencies in (previous UpperMs,
// UpperMs].
type Bucket struct {
	UpperMs float64 `json:"upper_ms"`
	Count   int     `json:"count"`
}

// BacklogResult is one processor's backlog drain.
type BacklogResult struct {
	Processor string `json:"processor"`
	Events    int    `json:"events"`
	// WriteSeconds is how long writing the backlog took (relay stopped).
	WriteSeconds float64 `json:"write_seconds"`
	// Seconds runs from starting the relay process until the consumer
	// has every event; EventsPerSec = Events / Seconds.
	Seconds      float64 `json:"seconds"`
	EventsPerSec float64 `json:"events_per_sec"`
	// StartupSeconds is start → relay ready; FirstEventSeconds start →
	// first event consumed; DrainEventsPerSec counts from the first event.
	StartupSeconds    float64 `json:"startup_seconds"`
	FirstEventSeconds float64 `json:"first_event_seconds"`
	DrainEventsPerSec float64 `json:"drain_events_per_sec"`
	// RatioToBaseline is EventsPerSec / Baseline.MsgsPerSec (both timed to
	// the last message consumed); RatioToProducer divides by the
	// baseline's producer-acknowledged rate instead.
	RatioToBaseline float64 `json:"ratio_to_baseline"`
	RatioToProducer float64 `json:"ratio_to_producer"`
	// Relay process: CPU (user+system) over the whole run, and VmHWM.
	RelayCPUSeconds   float64 `json:"relay_cpu_seconds"`
	CPUSecondsPer1000 float64 `json:"cpu_seconds_per_1000"`
	PeakRSSBytes      int64   `json:"peak_rss_bytes"`
	// StackCPUSeconds is the bench process's CPU during the drain: the
	// embedded database and broker, and the consumer.
	StackCPUSeconds float64 `json:"stack_cpu_seconds"`
	AvgMessageBytes float64 `json:"avg_message_bytes"`
	// Timeline counts the events consumed in each TimelineStep after the
	// relay started: how steady the drain was.
	TimelineStep Duration      `json:"timeline_step_ms"`
	Timeline     []int         `json:"timeline"`
	Missing      int           `json:"missing"`
	Duplicates   int           `json:"duplicates"`
	OutOfOrder   int           `json:"out_of_order"`
	Relay        RelaySettings `json:"relay"`
}

// BaselineResult is the raw producer: the same number of messages, of the
// same sizes, keys and headers, sent by a bare sarama AsyncProducer with
// the relay's producer settings to the same broker.
type BaselineResult struct {
	// Messages is the backlog's size, or Settings.BaselineMax if that is
	// smaller: the baseline is a rate, and a sample of a large backlog
	// measures it without holding a million prepared messages in memory.
	// BacklogEvents is then the backlog's size (0 when not capped).
	Messages        int     `json:"messages"`
	BacklogEvents   int     `json:"backlog_events,omitempty"`
	Bytes           int64   `json:"bytes"`
	AvgMessageBytes float64 `json:"avg_message_bytes"`
	// Seconds runs from the first send until the consumer has every
	// message (as the relay's backlog is timed); MsgsPerSec follows.
	Seconds    float64 `json:"seconds"`
	MsgsPerSec float64 `json:"msgs_per_sec"`
	// ProducerSeconds runs until the broker acknowledged every message.
	ProducerSeconds    float64 `json:"producer_seconds"`
	ProducerMsgsPerSec float64 `json:"producer_msgs_per_sec"`
	StackCPUSeconds    float64 `json:"stack_cpu_seconds"`
	// StackRSSBytes is the bench process's resident memory when the
	// repetition ended (the embedded stack's data is most of it).
	StackRSSBytes int64  `json:"stack_rss_bytes"`
	Topic         string `json:"topic"`
	// Repetitions is how often the baseline ran (before each backlog
	// drain and after the last); the figures above are the repetition
	// with the median MsgsPerSec, and the Runs lists all of them.
	Repetitions            int       `json:"repetitions"`
	RunsMsgsPerSec         []float64 `json:"runs_msgs_per_sec"`
	RunsProducerMsgsPerSec []float64 `json:"runs_producer_msgs_per_sec"`
}

// Target is one goal of the benchmark issue.
type Target struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	Met  bool   `json:"met"`
}

// relateFailover sets each failover result's steady reference: the steady
// run of the same processor, if there was one.
func (r *Report) relateFailover() {
	for i := range r.Failover {
		f := &r.Failover[i]
		f.SteadyP99, f.ExtraP99 = 0, 0
		for _, s := range r.Steady {
			if s.Processor == f.Processor && s.Received > 0 {
				f.SteadyP99, f.ExtraP99 = s.P99, f.P99-s.P99
			}
		}
	}
}

// failoverGapTarget is the relay high-availability issue's bound on the
// gap with the default election timing.
const failoverGapTarget = 10 * time.Second

// A backlog of largeBacklog events or more must drain with the relay's
// peak RSS within largeBacklogRSS (the performance issue's bound: memory
// must not grow with the backlog).
const (
	largeBacklog    = 1_000_000
	largeBacklogRSS = 256 << 20
)

// The performance issue's other bounds: the steady p99 (met by CDC only
// with the low-latency profile's small confidence window), the relay's CPU
// per 1,000 events at the steady rate, the CDC drain against the raw
// producer of the same run, and the polling drain.
const (
	steadyP99Target        = 150 * time.Millisecond
	steadyCPUPer1000Target = 0.15
	cdcDrainRatioTarget    = 0.35
	pollingDrainTarget     = 25_000
)

// checkTargets evaluates the issues' targets against r.
func (r *Report) checkTargets() {
	r.Targets = nil
	for _, b := range r.Backlog {
		switch b.Processor {
		case "cdc":
			r.Targets = append(r.Targets,
				Target{Name: "backlog drain, cdc", Want: ">= 10000 events/s", Got: fmt.Sprintf("%.0f events/s", b.EventsPerSec), Met: b.EventsPerSec >= 10000 && b.Missing == 0},
				Target{Name: "backlog drain vs raw producer (msgs/s to acknowledged), cdc", Want: fmt.Sprintf(">= %.2f", cdcDrainRatioTarget),
					Got: fmt.Sprintf("%.2f (%.2f to consumed)", b.RatioToProducer, b.RatioToBaseline), Met: b.RatioToProducer >= cdcDrainRatioTarget && b.Missing == 0})
		case "polling":
			r.Targets = append(r.Targets, Target{Name: "backlog drain, polling", Want: fmt.Sprintf(">= %d events/s", pollingDrainTarget),
				Got: fmt.Sprintf("%.0f events/s; stack CPU %.3f s per 1,000 events", b.EventsPerSec, b.StackCPUSeconds*1000/float64(max(b.Events, 1))),
				Met: b.EventsPerSec >= pollingDrainTarget && b.Missing == 0})
		}
		switch {
		case b.Events >= largeBacklog:
			r.Targets = append(r.Targets, Target{Name: fmt.Sprintf("backlog of %d drained, %s", b.Events, b.Processor),
				Want: "every event, in order; relay peak RSS <= " + mib(largeBacklogRSS),
				Got:  fmt.Sprintf("%d missing, %d out of order; %s", b.Missing, b.OutOfOrder, mib(b.PeakRSSBytes)),
				Met:  b.Missing == 0 && b.OutOfOrder == 0 && b.PeakRSSBytes > 0 && b.PeakRSSBytes <= largeBacklogRSS})
		case b.Events >= 100000:
			r.Targets = append(r.Targets, Target{Name: "relay peak RSS draining " + fmt.Sprint(b.Events) + " events, " + b.Processor,
				Want: "< 512 MiB", Got: mib(b.PeakRSSBytes), Met: b.PeakRSSBytes < 512<<20})
		}
	}
	for _, s := range r.Steady {
		name := fmt.Sprintf("steady %d events/s p99, %s", s.Rate, s.Processor)
		r.Targets = append(r.Targets, Target{Name: name, Want: "<= " + steadyP99Target.String(),
			Got: fmt.Sprintf("%s (confidence window %.0f%% of it)", s.P99, 100*s.ConfidenceShare),
			Met: time.Duration(s.P99) <= steadyP99Target && s.Missing == 0 && s.AchievedRate >= 0.95*float64(s.Rate)})
		r.Targets = append(r.Targets, Target{Name: fmt.Sprintf("steady %d events/s relay CPU per 1,000 events, %s", s.Rate, s.Processor),
			Want: fmt.Sprintf("<= %.2f s", steadyCPUPer1000Target), Got: fmt.Sprintf("%.3f s", s.CPUSecondsPer1000),
			Met: s.CPUSecondsPer1000 > 0 && s.CPUSecondsPer1000 <= steadyCPUPer1000Target})
	}
	for _, f := range r.Failover {
		gap := time.Duration(f.GapSeconds * float64(time.Second))
		r.Targets = append(r.Targets, Target{Name: "failover gap (SIGKILL → successor publishes), " + f.Processor,
			Want: "< " + failoverGapTarget.String() + ", every event in order",
			Got:  fmt.Sprintf("%s, %d missing, %d out of order", Duration(gap), f.Missing, f.OutOfOrder),
			Met:  f.GapSeconds > 0 && gap < failoverGapTarget && f.Missing == 0 && f.OutOfOrder == 0})
	}
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// WriteJSON writes r, indented, to path.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// WriteTable renders r for humans.
func (r *Report) WriteTable(w io.Writer) error {
	m, s := r.Machine, r.Settings
	var b strings.Builder
	fmt.Fprintf(&b, "scylla-outbox relay benchmark — %d cores (%s), %s, %s %s/%s\n",
		m.Cores, m.CPUModel, mib(m.MemoryBytes)+" RAM", m.GoVersion, m.OS, m.Arch)
	stack := "embedded (scyllaemu + kfake in the bench process)"
	if s.Stack != "embedded" {
		stack = fmt.Sprintf("scylla %s, kafka %s", strings.Join(s.ScyllaHosts, ","), strings.Join(s.KafkaBrokers, ","))
	}
	rl := s.Relay
	fmt.Fprintf(&b, "stack:    %s; %d partitions; consistency %s\n", stack, s.Partitions, rl.Consistency)
	fmt.Fprintf(&b, "relay:    separate process; max in flight %d; cdc confidence %s, query window %s, delays %s/%s (non-empty/empty); polling interval %s, safety window %s, batch %d\n",
		rl.MaxInFlight, rl.CDC.ConfidenceWindow, rl.CDC.QueryWindow, rl.CDC.PostNonEmptyQueryDelay, rl.CDC.PostEmptyQueryDelay,
		rl.Polling.Interval, rl.Polling.SafetyWindow, rl.Polling.Batch)
	p := s.Producer
	fmt.Fprintf(&b, "producer: sarama, kafka %s, idempotent %v, acks %s, %d open request, flush %s\n",
		p.KafkaVersion, p.Idempotent, p.Acks, p.MaxOpenRequests, p.Flush)
	fmt.Fprintf(&b, "workload: %d events per order (created, then updated), one event per Save, ~%d-byte payloads\n",
		s.EventsPerOrder, s.PayloadBytes)
	fmt.Fprintf(&b, "command:  %s\n", s.Command)
	if len(r.Steady) > 0 {
		fmt.Fprintf(&b, "\nSteady: %d events/s for %s, %d writers; latency = Save returned → consumed from Kafka\n",
			s.Rate, time.Duration(s.Duration), s.SteadyWriters)
		var rows strings.Builder
		fmt.Fprintln(&rows, "processor\tevents\tachieved/s\tp50\tp95\tp99\tmax\tconfidence\tshare of p99\tpoll delay\trelay CPU s/1k\tpeak RSS\t")
		for _, x := range r.Steady {
			fmt.Fprintf(&rows, "%s\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t%.0f%%\t%s\t%.3f\t%s\t\n",
				x.Processor, x.Events, x.AchievedRate, x.P50, x.P95, x.P99, x.Max, x.ConfidenceWindow,
				100*x.ConfidenceShare, x.PollDelay, x.CPUSecondsPer1000, mib(x.PeakRSSBytes))
		}
		if err := writeTable(&b, rows.String(), tabwriter.AlignRight); err != nil {
			return err
		}
	}
	if len(r.Failover) > 0 {
		el := s.Relay.Election
		fmt.Fprintf(&b, "\nFailover: %d events/s for %s, %d relays of one name (one active, one standby; election session timeout %s, heartbeat %s); the active one SIGKILLed halfway through the writes\n",
			s.Rate, time.Duration(s.Duration), failoverRelays, el.SessionTimeout, el.HeartbeatInterval)
		var rows strings.Builder
		fmt.Fprintln(&rows, "processor\tevents\tachieved/s\tkilled at\ttakeover\tgap\tp50\tp99\tsteady p99\textra p99\tmax\tduplicates\tout of order\t")
		for _, x := range r.Failover {
			fmt.Fprintf(&rows, "%s\t%d\t%.0f\t%.1fs\t%.2fs\t%.2fs\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t\n",
				x.Processor, x.Events, x.AchievedRate, x.KillAfterSeconds, x.TakeoverSeconds, x.GapSeconds,
				x.P50, x.P99, x.SteadyP99, x.ExtraP99, x.Max, x.Duplicates, x.OutOfOrder)
		}
		if err := writeTable(&b, rows.String(), tabwriter.AlignRight); err != nil {
			return err
		}
		fmt.Fprintln(&b, "  killed at: into the writes; takeover: SIGKILL → the standby reports itself active; gap: SIGKILL → the Kafka timestamp of the first record the successor published;")
		fmt.Fprintln(&b, "  extra p99: p99 of this run − p99 of the steady run; duplicates: events delivered twice (by event id), allowed after a crash")
	}
	if r.Baseline.Messages > 0 {
		bl := r.Baseline
		fmt.Fprintf(&b, "\nBaseline: raw sarama AsyncProducer, same settings, %d messages (%.0f bytes each): %.0f msgs/s to consumed (%.2fs), %.0f msgs/s to acknowledged (%.2fs)\n",
			bl.Messages, bl.AvgMessageBytes, bl.MsgsPerSec, bl.Seconds, bl.ProducerMsgsPerSec, bl.ProducerSeconds)
		if bl.BacklogEvents > bl.Messages {
			fmt.Fprintf(&b, "          a sample: %d of the backlog's %d events (--baseline-max); the baseline is a rate, x baseline divides by it\n",
				bl.Messages, bl.BacklogEvents)
		}
		fmt.Fprintf(&b, "          median of %d repetitions (before each backlog drain and after the last): %v msgs/s to consumed\n",
			bl.Repetitions, bl.RunsMsgsPerSec)
	}
	if len(r.Backlog) > 0 {
		fmt.Fprintf(&b, "\nBacklog: %d events written with no relay running, then the relay process started; timed from its start to the last event consumed\n", s.Backlog)
		var rows strings.Builder
		fmt.Fprintln(&rows, "processor\tevents\twritten in\tseconds\tevents/s\tx baseline\tx producer\tstartup\trelay CPU s\tCPU s/1k\tpeak RSS\tstack CPU s\t")
		for _, x := range r.Backlog {
			fmt.Fprintf(&rows, "%s\t%d\t%.1fs\t%.2f\t%.0f\t%.2f\t%.2f\t%.2fs\t%.2f\t%.3f\t%s\t%.2f\t\n",
				x.Processor, x.Events, x.WriteSeconds, x.Seconds, x.EventsPerSec, x.RatioToBaseline, x.RatioToProducer,
				x.StartupSeconds, x.RelayCPUSeconds, x.CPUSecondsPer1000, mib(x.PeakRSSBytes), x.StackCPUSeconds)
		}
		if err := writeTable(&b, rows.String(), tabwriter.AlignRight); err != nil {
			return err
		}
		fmt.Fprintln(&b, "  written in: writing the backlog (the bench's writers into the database, no relay); seconds: relay start → last event consumed;")
		fmt.Fprintln(&b, "  x baseline: events/s over the baseline's msgs/s to consumed; x producer: over its msgs/s to acknowledged;")
		fmt.Fprintln(&b, "  relay CPU and peak RSS: the relay process alone; stack CPU: the bench process (database, broker, consumer) during the drain")
	}
	var bad []string
	for _, x := range r.Steady {
		if x.Missing+x.Duplicates+x.OutOfOrder > 0 {
			bad = append(bad, fmt.Sprintf("steady %s: %d missing, %d duplicates, %d out of order", x.Processor, x.Missing, x.Duplicates, x.OutOfOrder))
		}
	}
	for _, x := range r.Backlog {
		if x.Missing+x.Duplicates+x.OutOfOrder > 0 {
			bad = append(bad, fmt.Sprintf("backlog %s: %d missing, %d duplicates, %d out of order", x.Processor, x.Missing, x.Duplicates, x.OutOfOrder))
		}
	}
	for _, x := range r.Failover {
		if x.Missing+x.OutOfOrder > 0 {
			bad = append(bad, fmt.Sprintf("failover %s: %d missing, %d out of order", x.Processor, x.Missing, x.OutOfOrder))
		}
	}
	switch {
	case len(bad) == 0 && len(r.Failover) > 0:
		fmt.Fprintln(&b, "\nDelivery: every event arrived, per-aggregate order kept; no duplicates but the failover's (its table).")
	case len(bad) == 0:
		fmt.Fprintln(&b, "\nDelivery: every event arrived, no duplicates, per-aggregate order kept.")
	default:
		fmt.Fprintln(&b, "\nDelivery problems:\n  "+strings.Join(bad, "\n  "))
	}
	if len(r.Targets) > 0 {
		fmt.Fprintln(&b, "\nTargets:")
		var rows strings.Builder
		for _, t := range r.Targets {
			mark := "met"
			if !t.Met {
				mark = "MISSED"
			}
			fmt.Fprintf(&rows, "  %s\twant %s\tgot %s\t%s\t\n", t.Name, t.Want, t.Got, mark)
		}
		if err := writeTable(&b, rows.String(), 0); err != nil {
			return err
		}
	}
	for _, e := range r.Errors {
		fmt.Fprintln(&b, "error: "+e)
	}
	fmt.Fprintf(&b, "\ntotal %s\n", r.Elapsed)
	if r.Comparison != nil {
		if err := writeComparison(&b, r.Comparison); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeTable aligns the tab-terminated cells of rows into columns, two
// spaces apart, and appends them to b.
func writeTable(b *strings.Builder, rows string, flags uint) error {
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', flags)
	if _, err := io.WriteString(tw, rows); err != nil {
		return err
	}
	return tw.Flush()
}
