package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gocql/gocql"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/scylla-outbox/scylla-outbox/actors"
	"github.com/scylla-outbox/scylla-outbox/app"
	"github.com/scylla-outbox/scylla-outbox/cdc"
	"github.com/scylla-outbox/scylla-outbox/messaging"
	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/storage"
)

// Environment of a relay child. The bench sets them on the command
// Options.RelayCommand returns; [RunRelayChild] reads them.
const (
	// EnvChild marks a relay child: a main (or TestMain) that sees it set
	// must call [RunRelayChild] instead of doing its usual work.
	EnvChild       = "OUTBOX_BENCH_CHILD"
	envProcessor   = "OUTBOX_BENCH_PROCESSOR"
	envName        = "OUTBOX_BENCH_RELAY_NAME"
	envScylla      = "OUTBOX_BENCH_SCYLLA_HOSTS"
	envKafka       = "OUTBOX_BENCH_KAFKA_BROKERS"
	envKeyspace    = "OUTBOX_BENCH_KEYSPACE"
	envTopic       = "OUTBOX_BENCH_TOPIC"
	envConsistency = "OUTBOX_BENCH_CONSISTENCY"
	envMaxInFlight = "OUTBOX_BENCH_MAX_IN_FLIGHT"
	envStartFrom   = "OUTBOX_BENCH_START_FROM"
	envPollEvery   = "OUTBOX_BENCH_POLL_INTERVAL"
	envPollSafety  = "OUTBOX_BENCH_POLL_SAFETY_WINDOW"
	envPollBatch   = "OUTBOX_BENCH_POLL_BATCH"
	envLinger      = "OUTBOX_BENCH_LINGER"
	// envCPUProfile names a file the child writes a CPU profile to, from
	// start to shutdown: the evidence behind the tuning notes.
	envCPUProfile = "OUTBOX_BENCH_CPUPROFILE"
	// envHeapProfile starts the names of the heap profiles the child
	// writes (see RelaySettings.HeapProfile).
	envHeapProfile = "OUTBOX_BENCH_HEAPPROFILE"
)

// readyPrefix starts the line a child prints on stdout once the relay runs;
// the rest of the line is its effective [RelaySettings] as JSON.
const readyPrefix = "OUTBOX_BENCH_READY "

// rolePrefix starts the line a child prints on stdout after the ready line
// and whenever its relay's role changes; the rest is the role as /status
// names it (standby, acquiring, active, fenced, releasing, stopped).
const rolePrefix = "OUTBOX_BENCH_ROLE "

// rolePoll is how often a child asks its relay's role: the resolution of
// the failover workload's takeover time. One actor round trip each, a
// negligible share of the relay's CPU time.
const rolePoll = 20 * time.Millisecond

// IsRelayChild reports whether this process was started by the bench as a
// relay child.
func IsRelayChild() bool { return os.Getenv(EnvChild) != "" }

// SelfCommand returns an Options.RelayCommand that re-executes the running
// binary with args. The binary's main must call [RunRelayChild] when
// [IsRelayChild] holds. It runs the binary itself, not through `go run`,
// so the pid the bench measures is the relay's.
func SelfCommand(args ...string) func(ctx context.Context, env []string) *exec.Cmd {
	return func(ctx context.Context, env []string) *exec.Cmd {
		exe, err := os.Executable()
		if err != nil {
			exe = os.Args[0]
		}
		cmd := exec.CommandContext(ctx, exe, args...)
		cmd.Env = env
		// An interrupted bench stops its relay gracefully, not with the
		// SIGKILL CommandContext sends by default.
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		cmd.WaitDelay = 30 * time.Second
		return cmd
	}
}

// RelaySettings are what one relay child runs with. The bench sends them
// through the environment; the child applies the low-latency profile and
// echoes the effective values back, and those are what the report shows.
type RelaySettings struct {
	Processor string `json:"processor,omitempty"`
	// Name is the relay name: the relays of one name elect one active
	// among them. Each run has a name of its own (default "bench-" +
	// Processor), so that no relay of another run, or of another bench
	// on the same brokers, joins its election.
	Name         string   `json:"name,omitempty"`
	ScyllaHosts  []string `json:"scylla_hosts"`
	KafkaBrokers []string `json:"kafka_brokers"`
	Keyspace     string   `json:"keyspace,omitempty"`
	Topic        string   `json:"topic,omitempty"`
	Consistency  string   `json:"consistency"`
	// MaxInFlight is the relay's bound on records read but not finished.
	MaxInFlight int `json:"max_in_flight"`
	// Linger is the relay producer's linger (messaging.Config.Linger;
	// zero: none), the baseline's too.
	Linger Duration `json:"linger_ms"`
	// StartFrom is where a relay with no saved progress starts reading
	// (both processors): just before the run's first write.
	StartFrom time.Time      `json:"start_from,omitzero"`
	CDC       CDCWindows     `json:"cdc"`
	Polling   PollingWindows `json:"polling"`
	// Election is the relays' group timing: messaging's defaults, as the
	// relay's own defaults are.
	Election ElectionTiming `json:"election"`
	// GOGC is the child's garbage-collection target (the GOGC variable;
	// 0 leaves the Go default of 100).
	GOGC int `json:"gogc,omitempty"`
	// CPUProfile, when set, is where the child writes its CPU profile.
	CPUProfile string `json:"cpu_profile,omitempty"`
	// HeapProfile, when set, starts the names of the child's heap
	// profiles: HeapProfile+"-peak.heap.pprof" when its live heap was at
	// its highest, HeapProfile+"-end.heap.pprof" when it was stopped.
	HeapProfile string `json:"heap_profile,omitempty"`
}

// CDCWindows are the CDC reader's windows (cdc.LowLatency in the child).
type CDCWindows struct {
	ConfidenceWindow       Duration `json:"confidence_window_ms"`
	QueryWindow            Duration `json:"query_window_ms"`
	PostNonEmptyQueryDelay Duration `json:"post_non_empty_query_delay_ms"`
	PostEmptyQueryDelay    Duration `json:"post_empty_query_delay_ms"`
	PostFailedQueryDelay   Duration `json:"post_failed_query_delay_ms"`
	ChangeAgeLimit         Duration `json:"change_age_limit_ms"`
	IdleQueryDelay         Duration `json:"idle_query_delay_ms"`
	IdleAfter              Duration `json:"idle_after_ms"`
	AlignQueries           bool     `json:"align_queries"`
}

// PollingWindows are the polling processor's settings.
type PollingWindows struct {
	Interval     Duration `json:"interval_ms"`
	SafetyWindow Duration `json:"safety_window_ms"`
	Batch        int      `json:"batch"`
}

// ElectionTiming is how the relays of a name elect the active one
// (messaging.ElectionConfig): a successor takes over about SessionTimeout
// plus HeartbeatInterval after the active relay died without leaving.
type ElectionTiming struct {
	SessionTimeout    Duration `json:"session_timeout_ms"`
	HeartbeatInterval Duration `json:"heartbeat_interval_ms"`
}

// Defaults of the relay child: the low-latency profile.
const (
	// DefaultMaxInFlight is sized for drain throughput: the pipeline
	// publishes one event per aggregate at a time, so the in-flight set
	// must hold many aggregates to keep the producer's batches full. It
	// costs memory only while a backlog drains (a few KiB per record).
	DefaultMaxInFlight = 5000
	// DefaultPollInterval is the polling processor's low-latency interval.
	DefaultPollInterval = 50 * time.Millisecond
	// DefaultPollSafetyWindow is re-read behind the cursor on every poll;
	// one coordinator with one clock (the embedded stack) needs little.
	DefaultPollSafetyWindow = 2 * time.Second
	// DefaultPollBatch is how many records one poll takes at most.
	DefaultPollBatch = 2000
	// changeAgeLimit only matters without StartFrom; the bench always
	// sets StartFrom.
	changeAgeLimit = 10 * time.Minute
)

// withDefaults fills zero fields, the CDC windows from cdc.LowLatency.
func (rs RelaySettings) withDefaults() RelaySettings {
	if rs.Name == "" && rs.Processor != "" {
		rs.Name = "bench-" + rs.Processor
	}
	if rs.Consistency == "" {
		rs.Consistency = "ONE"
	}
	if rs.MaxInFlight <= 0 {
		rs.MaxInFlight = DefaultMaxInFlight
	}
	if rs.CDC == (CDCWindows{}) {
		c := cdc.LowLatency(cdc.ReaderConfig{ChangeAgeLimit: changeAgeLimit})
		rs.CDC = CDCWindows{
			ConfidenceWindow:       Duration(c.ConfidenceWindow),
			QueryWindow:            Duration(c.QueryWindow),
			PostNonEmptyQueryDelay: Duration(c.PostNonEmptyQueryDelay),
			PostEmptyQueryDelay:    Duration(c.PostEmptyQueryDelay),
			PostFailedQueryDelay:   Duration(c.PostFailedQueryDelay),
			ChangeAgeLimit:         Duration(c.ChangeAgeLimit),
			IdleQueryDelay:         Duration(c.IdleQueryDelay),
			IdleAfter:              Duration(c.IdleAfter),
			AlignQueries:           c.AlignQueries,
		}
	}
	if rs.Polling.Interval <= 0 {
		rs.Polling.Interval = Duration(DefaultPollInterval)
	}
	if rs.Polling.SafetyWindow <= 0 {
		rs.Polling.SafetyWindow = Duration(DefaultPollSafetyWindow)
	}
	if rs.Polling.Batch <= 0 {
		rs.Polling.Batch = DefaultPollBatch
	}
	if rs.Election == (ElectionTiming{}) {
		rs.Election = ElectionTiming{SessionTimeout: Duration(messaging.DefaultSessionTimeout),
			HeartbeatInterval: Duration(messaging.DefaultHeartbeatInterval)}
	}
	return rs
}

// env renders rs as the child's environment variables (without EnvChild).
func (rs RelaySettings) env() []string {
	e := []string{
		envProcessor + "=" + rs.Processor,
		envName + "=" + rs.Name,
		envScylla + "=" + strings.Join(rs.ScyllaHosts, ","),
		envKafka + "=" + strings.Join(rs.KafkaBrokers, ","),
		envKeyspace + "=" + rs.Keyspace,
		envTopic + "=" + rs.Topic,
		envConsistency + "=" + rs.Consistency,
		envMaxInFlight + "=" + strconv.Itoa(rs.MaxInFlight),
		envPollEvery + "=" + time.Duration(rs.Polling.Interval).String(),
		envPollSafety + "=" + time.Duration(rs.Polling.SafetyWindow).String(),
		envPollBatch + "=" + strconv.Itoa(rs.Polling.Batch),
		envLinger + "=" + time.Duration(rs.Linger).String(),
	}
	if !rs.StartFrom.IsZero() {
		e = append(e, envStartFrom+"="+rs.StartFrom.UTC().Format(time.RFC3339Nano))
	}
	if rs.CPUProfile != "" {
		e = append(e, envCPUProfile+"="+rs.CPUProfile)
	}
	if rs.HeapProfile != "" {
		e = append(e, envHeapProfile+"="+rs.HeapProfile)
	}
	if rs.GOGC > 0 {
		e = append(e, "GOGC="+strconv.Itoa(rs.GOGC))
	}
	return e
}

// relaySettingsFromEnv is the inverse of env.
func relaySettingsFromEnv(get func(string) string) (RelaySettings, error) {
	split := func(s string) []string {
		var out []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out
	}
	rs := RelaySettings{
		Processor:    get(envProcessor),
		Name:         get(envName),
		ScyllaHosts:  split(get(envScylla)),
		KafkaBrokers: split(get(envKafka)),
		Keyspace:     get(envKeyspace),
		Topic:        get(envTopic),
		Consistency:  get(envConsistency),
		CPUProfile:   get(envCPUProfile),
		HeapProfile:  get(envHeapProfile),
	}
	var errs []error
	atoi := func(name string) int {
		v := get(name)
		if v == "" {
			return 0
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", name, v, err))
		}
		return n
	}
	dur := func(name string) Duration {
		v := get(name)
		if v == "" {
			return 0
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", name, v, err))
		}
		return Duration(d)
	}
	rs.MaxInFlight = atoi(envMaxInFlight)
	rs.Linger = dur(envLinger)
	rs.GOGC = atoi("GOGC")
	rs.Polling = PollingWindows{Interval: dur(envPollEvery), SafetyWindow: dur(envPollSafety), Batch: atoi(envPollBatch)}
	if v := get(envStartFrom); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", envStartFrom, v, err))
		}
		rs.StartFrom = t
	}
	switch {
	case rs.Processor != outbox.ProcessorCDC && rs.Processor != outbox.ProcessorPolling:
		errs = append(errs, fmt.Errorf("%s=%q: want cdc or polling", envProcessor, rs.Processor))
	case len(rs.ScyllaHosts) == 0 || len(rs.KafkaBrokers) == 0:
		errs = append(errs, fmt.Errorf("%s and %s are required", envScylla, envKafka))
	case rs.Keyspace == "" || rs.Topic == "":
		errs = append(errs, fmt.Errorf("%s and %s are required", envKeyspace, envTopic))
	}
	return rs.withDefaults(), errors.Join(errs...)
}

// appSettings turns rs into the service settings app.Run takes: the
// low-latency relay of the embedded stack, with no HTTP server (it would
// only add work to what is measured).
func (rs RelaySettings) appSettings(logger *zap.Logger) (app.Settings, error) {
	consistency, err := gocql.ParseConsistencyWrapper(rs.Consistency)
	if err != nil {
		return app.Settings{}, fmt.Errorf("bench: consistency %q: %w", rs.Consistency, err)
	}
	c := rs.CDC
	return app.Settings{
		Storage: storage.Config{Hosts: rs.ScyllaHosts, Consistency: rs.Consistency},
		// The topic template is the run's literal topic name: every run
		// publishes to a topic of its own.
		Messaging: messaging.Config{Brokers: rs.KafkaBrokers, TopicTemplate: rs.Topic, Linger: time.Duration(rs.Linger)},
		Relay: app.RelayConfig{
			Processor:   rs.Processor,
			Keyspace:    rs.Keyspace,
			Name:        rs.Name,
			Consistency: consistency,
			Election: messaging.ElectionConfig{SessionTimeout: time.Duration(rs.Election.SessionTimeout),
				HeartbeatInterval: time.Duration(rs.Election.HeartbeatInterval)},
			Processing: actors.ProcessorConfig{MaxInFlight: rs.MaxInFlight},
			CDC: cdc.ReaderConfig{
				ConfidenceWindow:       time.Duration(c.ConfidenceWindow),
				QueryWindow:            time.Duration(c.QueryWindow),
				PostNonEmptyQueryDelay: time.Duration(c.PostNonEmptyQueryDelay),
				PostEmptyQueryDelay:    time.Duration(c.PostEmptyQueryDelay),
				PostFailedQueryDelay:   time.Duration(c.PostFailedQueryDelay),
				ChangeAgeLimit:         time.Duration(c.ChangeAgeLimit),
				IdleQueryDelay:         time.Duration(c.IdleQueryDelay),
				IdleAfter:              time.Duration(c.IdleAfter),
				AlignQueries:           c.AlignQueries,
				StartFrom:              rs.StartFrom,
			},
			Polling: actors.PollingSource{
				Interval:     time.Duration(rs.Polling.Interval),
				SafetyWindow: time.Duration(rs.Polling.SafetyWindow),
				Batch:        rs.Polling.Batch,
				StartFrom:    rs.StartFrom,
			},
		},
		Logger: logger,
	}, nil
}

// RunRelayChild runs a relay as the bench's child process: it reads its
// [RelaySettings] from the environment, starts the relay with app.Run,
// prints a ready line on stdout, then a line for every role its relay takes
// in the election, and on SIGTERM (or SIGINT, or ctx ending) shuts it down
// gracefully and returns. Logs at warning level and above go
// to stderr, which the bench shows when a run fails.
func RunRelayChild(ctx context.Context) (err error) {
	rs, err := relaySettingsFromEnv(os.Getenv)
	if err != nil {
		return fmt.Errorf("bench: relay child: %w", err)
	}
	ready, err := json.Marshal(rs)
	if err != nil {
		return fmt.Errorf("bench: relay child: %w", err)
	}
	if rs.CPUProfile != "" {
		f, ferr := os.Create(rs.CPUProfile)
		if ferr != nil {
			return fmt.Errorf("bench: relay child: %w", ferr)
		}
		if perr := pprof.StartCPUProfile(f); perr != nil {
			return fmt.Errorf("bench: relay child: %w", errors.Join(perr, f.Close()))
		}
		defer func() {
			pprof.StopCPUProfile()
			if cerr := f.Close(); cerr != nil {
				err = errors.Join(err, fmt.Errorf("bench: relay child: CPU profile: %w", cerr))
			}
		}()
	}
	logCfg := zap.NewProductionConfig()
	logCfg.Level = zap.NewAtomicLevelAt(zapcore.WarnLevel)
	logCfg.OutputPaths, logCfg.ErrorOutputPaths = []string{"stderr"}, []string{"stderr"}
	logCfg.Sampling = nil
	logger, err := logCfg.Build()
	if err != nil {
		return fmt.Errorf("bench: relay child: %w", err)
	}
	defer logger.Sync() //nolint:errcheck // stderr
	settings, err := rs.appSettings(logger)
	if err != nil {
		return err
	}

	sigCtx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	// app.Run's context bounds connecting only; the relay itself lives
	// until Shutdown.
	startCtx, cancel := context.WithTimeout(sigCtx, 30*time.Second)
	rt, err := app.Run(startCtx, settings, app.RunOptions{})
	cancel()
	if err != nil {
		return fmt.Errorf("bench: relay child: %w", err)
	}
	shutdown := func() error {
		sctx, scancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer scancel()
		return rt.Shutdown(sctx)
	}
	if _, err := fmt.Fprintf(os.Stdout, "%s%s\n", readyPrefix, ready); err != nil {
		// Without its ready line the bench never uses this relay.
		return errors.Join(fmt.Errorf("bench: relay child: ready line: %w", err), shutdown())
	}
	stopHeap := func() error { return nil }
	if rs.HeapProfile != "" {
		stopHeap = watchHeap(rs.HeapProfile)
	}
	roles := make(chan struct{})
	go func() {
		defer close(roles)
		reportRoles(sigCtx, rt, os.Stdout)
	}()
	<-sigCtx.Done()
	<-roles
	// The end profile is taken before shutdown: a backlog relay is stopped
	// as soon as its drain is complete, so this is the heap after it.
	heapErr := stopHeap()
	if heapErr != nil {
		heapErr = fmt.Errorf("bench: relay child: heap profile: %w", heapErr)
	}
	return errors.Join(heapErr, shutdown())
}

// heapWatchEvery is how often a child with heap profiles reads its live
// heap; heapGrowth is how much it must have grown over the last peak
// profile for a new one to be written (a few dozen profiles from a few
// MiB to a few hundred).
const (
	heapWatchEvery = 250 * time.Millisecond
	heapGrowth     = 1.1
)

// watchHeap writes prefix+"-peak.heap.pprof" whenever the live heap (as of
// the last GC, which is also what a heap profile shows) has grown by
// heapGrowth over the last one written, until the returned function is
// called; that writes prefix+"-end.heap.pprof" (and the peak profile too if
// none was written yet) and reports the first failure. The peak profile explains a peak RSS; the end one carries the
// allocation totals of the whole run.
func watchHeap(prefix string) (stop func() error) {
	done := make(chan struct{})
	result := make(chan error, 1)
	go func() {
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		var peak float64
		tick := time.NewTicker(heapWatchEvery)
		defer tick.Stop()
		for {
			select {
			case <-done:
				if peak == 0 {
					// Stopped before the first reading (a drain shorter
					// than heapWatchEvery): the heap now is the peak seen.
					result <- writeHeapProfile(prefix + "-peak.heap.pprof")
					return
				}
				result <- nil
				return
			case <-tick.C:
			}
			metrics.Read(sample)
			if sample[0].Value.Kind() != metrics.KindUint64 {
				result <- errors.New("runtime/metrics: /gc/heap/live:bytes unsupported")
				return
			}
			if live := float64(sample[0].Value.Uint64()); live > heapGrowth*peak {
				if err := writeHeapProfile(prefix + "-peak.heap.pprof"); err != nil {
					// Stop watching; the failure is reported at the end.
					result <- err
					return
				}
				peak = live
			}
		}
	}()
	return func() error {
		close(done)
		return errors.Join(<-result, writeHeapProfile(prefix+"-end.heap.pprof"))
	}
}

// writeHeapProfile writes the heap profile to path through a temporary
// file, so that path always holds a complete profile.
func writeHeapProfile(path string) (err error) {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		return errors.Join(err, f.Close())
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// reportRoles writes a role line to w whenever the relay's role differs
// from the last one written, until ctx ends or w fails (the bench is gone).
func reportRoles(ctx context.Context, rt *app.Runtime, w io.Writer) {
	select {
	case <-rt.Started():
	case <-rt.Failed():
		return
	case <-ctx.Done():
		return
	}
	tick := time.NewTicker(rolePoll)
	defer tick.Stop()
	last := ""
	for {
		qctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := rt.Relay.Status(qctx)
		cancel()
		// A failed question (the relay busy for a second) is asked again
		// on the next tick.
		if err == nil && st.Leader.Role != last {
			last = st.Leader.Role
			if _, err := fmt.Fprintf(w, "%s%s\n", rolePrefix, last); err != nil {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
