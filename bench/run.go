package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/scylladb/gocqlx/v2"

	"github.com/scylla-outbox/scylla-outbox/app"
	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/leader"
	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/schema"
	"github.com/scylla-outbox/scylla-outbox/storage"
)

// settle is how long a steady run lets a freshly ready relay run before
// writing: the CDC reader's first query rounds and the consumer's first
// fetch are then behind it, and latency measures the relay at work, not
// its start.
const settle = time.Second

// writerTimeout bounds each request of the bench's own session (writers,
// schema changes).
const writerTimeout = time.Minute

// timelineStep is the resolution of a backlog drain's timeline.
const timelineStep = 250 * time.Millisecond

// bencher is one Run in progress.
type bencher struct {
	o       Options
	runID   string
	hosts   []string
	brokers []string
	session gocqlx.Session
	admin   sarama.ClusterAdmin
	rep     *Report
}

// Run runs the workloads of o and returns the report. The JSON report, the
// SVG and the table are written as o says, also when a run failed part
// way (the report then carries what was measured and Errors). The error
// joins everything that went wrong.
func Run(ctx context.Context, o Options) (Report, error) {
	if IsRelayChild() {
		// A main that forgot RunRelayChild would otherwise start benches
		// recursively.
		return Report{}, errors.New("bench: Run called in a relay child: main must call RunRelayChild when IsRelayChild()")
	}
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return Report{}, err
	}
	// The previous report is read first: a run of many minutes must not
	// end in finding it unreadable.
	var previous []byte
	if o.ComparePath != "" {
		var err error
		if previous, err = readPrevious(o.ComparePath); err != nil {
			return Report{}, err
		}
	}
	// Created now, for the same reason: a profile that cannot be written
	// would stop the first relay child minutes into the run.
	for _, dir := range []string{o.CPUProfileDir, o.HeapProfileDir} {
		if dir == "" {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return Report{}, fmt.Errorf("bench: profile directory: %w", err)
		}
	}
	started := time.Now()
	rep := Report{Machine: machineInfo(), Started: started.UTC()}
	// The run id keeps keyspaces and topics of concurrent or earlier runs
	// on a shared cluster apart.
	runID := fmt.Sprintf("%s%04x", started.UTC().Format("150405"), rand.IntN(1<<16))
	b := &bencher{o: o, runID: runID, rep: &rep}
	err := b.run(ctx)
	if err != nil {
		rep.Errors = append(rep.Errors, err.Error())
	}
	rep.Elapsed = Duration(time.Since(started))
	rep.relateFailover()
	rep.checkTargets()
	if previous != nil {
		c, cerr := Compare(previous, rep, o.CompareThreshold)
		if cerr != nil {
			err = errors.Join(err, cerr)
		} else {
			c.Previous = o.ComparePath
			rep.Comparison = c
		}
	}
	return rep, errors.Join(err, b.write(&rep))
}

// readPrevious reads the report of an earlier run and checks that it is
// a JSON object.
func readPrevious(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bench: compare: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("bench: compare: %s is not a JSON report: %w", path, err)
	}
	return raw, nil
}

func (b *bencher) write(rep *Report) error {
	var errs []error
	if b.o.JSONPath != "" {
		errs = append(errs, rep.WriteJSON(b.o.JSONPath))
	}
	if b.o.SVGPath != "" {
		errs = append(errs, os.WriteFile(b.o.SVGPath, []byte(rep.SVG()), 0o644))
	}
	errs = append(errs, rep.WriteTable(b.o.Out))
	return errors.Join(errs...)
}

// logf writes a progress line. A line that cannot be written is dropped:
// progress is commentary, and the run's results go to the report, whose
// write errors Run returns.
func (b *bencher) logf(format string, args ...any) {
	_, _ = fmt.Fprintf(b.o.Progress, "bench: "+format+"\n", args...)
}

func (b *bencher) run(ctx context.Context) (err error) {
	o := b.o
	b.hosts, b.brokers = o.ScyllaHosts, o.KafkaBrokers
	stack := "external"
	if len(b.hosts) == 0 {
		stack = "embedded"
		b.logf("starting the embedded stack")
		var emb *app.Embedded
		if emb, err = app.StartEmbedded(ctx, app.EmbeddedOptions{}); err != nil {
			return err
		}
		defer closeJoin(&err, "embedded stack", emb)
		b.hosts, b.brokers = []string{emb.DB.Addr()}, emb.Broker.Brokers()
	}
	sc, err := baselineConfig(b.brokers, o.Linger)
	if err != nil {
		return err
	}
	b.rep.Settings = Settings{
		Command: o.Command, Quick: o.Quick, Processors: o.Processors, Workloads: o.Workloads,
		Rate: o.Rate, Duration: Duration(o.Duration), Backlog: o.Backlog,
		EventsPerOrder: o.EventsPerOrder, PayloadBytes: payloadBytes(o.EventsPerOrder),
		SteadyWriters: o.SteadyWriters, BacklogWriters: o.BacklogWriters, BaselineMax: max(o.BaselineMax, 0),
		Settle: Duration(settle), Stack: stack, ScyllaHosts: b.hosts, KafkaBrokers: b.brokers, Partitions: o.Partitions,
		Relay:    b.relaySettings("", runEnv{}, time.Time{}),
		Producer: producerSettings(sc),
	}
	if b.rep.Settings.Command == "" {
		b.rep.Settings.Command = strings.Join(os.Args, " ")
	}

	cluster, err := storage.Config{Hosts: b.hosts, Consistency: o.Consistency}.ClusterConfig()
	if err != nil {
		return err
	}
	// gocql holds each write up to 200 µs to coalesce it with others; the
	// writers would then cap the backlog writes (not what is measured,
	// but it makes the run slower).
	cluster.WriteCoalesceWaitTime = 0
	// A write slower than the driver's 5 s (the embedded database's
	// collector marking GiBs of a million-event backlog on cores shared
	// with others) would end the whole run; the writers are the load, not
	// what is measured, so they wait. A slow Save still shows in the
	// steady run's writer p99.
	cluster.Timeout = writerTimeout
	s, err := cluster.CreateSession()
	if err != nil {
		return fmt.Errorf("bench: connect to %v: %w", b.hosts, err)
	}
	b.session = gocqlx.NewSession(s)
	defer b.session.Close()
	if b.admin, err = sarama.NewClusterAdmin(b.brokers, sc); err != nil {
		return fmt.Errorf("bench: kafka admin %v: %w", b.brokers, err)
	}
	defer closeJoin(&err, "kafka admin", b.admin)

	var errs []error
	if o.runs(WorkloadSteady) {
		for _, proc := range o.Processors {
			r, err := b.steady(ctx, proc)
			if err != nil {
				errs = append(errs, fmt.Errorf("steady %s: %w", proc, err))
			}
			if r.Processor != "" {
				b.rep.Steady = append(b.rep.Steady, r)
			}
			if ctx.Err() != nil {
				return errors.Join(errs...)
			}
		}
	}
	if o.runs(WorkloadFailover) {
		for _, proc := range o.Processors {
			r, err := b.failover(ctx, proc)
			if err != nil {
				errs = append(errs, fmt.Errorf("failover %s: %w", proc, err))
			}
			if r.Processor != "" {
				b.rep.Failover = append(b.rep.Failover, r)
			}
			if ctx.Err() != nil {
				return errors.Join(errs...)
			}
		}
	}
	if o.runs(WorkloadBacklog) {
		// The baseline runs before each backlog drain and once after the
		// last: the machine is shared, and a single short measurement can
		// land on a busy or an idle moment. The median of the repetitions
		// is the reference.
		var reps []BaselineResult
		n := 0
		runBaseline := func() {
			n++
			bl, err := b.baseline(ctx, n)
			if err != nil {
				errs = append(errs, fmt.Errorf("baseline %d: %w", n, err))
			}
			if bl.MsgsPerSec > 0 {
				reps = append(reps, bl)
			}
		}
		for _, proc := range o.Processors {
			if ctx.Err() != nil {
				break
			}
			runBaseline()
			r, err := b.backlog(ctx, proc)
			if err != nil {
				errs = append(errs, fmt.Errorf("backlog %s: %w", proc, err))
			}
			if r.Processor != "" {
				b.rep.Backlog = append(b.rep.Backlog, r)
			}
		}
		if ctx.Err() == nil {
			runBaseline()
		}
		bl := medianBaseline(reps)
		b.rep.Baseline = bl
		for i := range b.rep.Backlog {
			r := &b.rep.Backlog[i]
			if bl.MsgsPerSec > 0 {
				r.RatioToBaseline = r.EventsPerSec / bl.MsgsPerSec
			}
			if bl.ProducerMsgsPerSec > 0 {
				r.RatioToProducer = r.EventsPerSec / bl.ProducerMsgsPerSec
			}
		}
	}
	return errors.Join(errs...)
}

// payloadBytes is the mean payload of one order's events.
func payloadBytes(perOrder int) int {
	var f orderFlow
	total := 0
	for range perOrder {
		ev, err := f.next(domain.NewUUIDv7Generator())
		if err != nil {
			return 0
		}
		p, err := ev.Payload()
		if err != nil {
			return 0
		}
		total += len(p)
	}
	return total / perOrder
}

// relaySettings are the settings of the relay children of run re; the
// relay name is the run's.
func (b *bencher) relaySettings(proc string, re runEnv, startFrom time.Time) RelaySettings {
	o := b.o
	rs := RelaySettings{
		Processor: proc, ScyllaHosts: b.hosts, KafkaBrokers: b.brokers,
		Keyspace: re.keyspace, Topic: re.topic, Consistency: o.Consistency,
		MaxInFlight: o.MaxInFlight, Linger: Duration(o.Linger), StartFrom: startFrom, GOGC: o.RelayGOGC,
		Polling: PollingWindows{Interval: Duration(o.PollInterval), SafetyWindow: Duration(o.PollSafetyWindow), Batch: o.PollBatch},
	}
	if re.name != "" {
		rs.Name = "bench-" + b.runID + "-" + re.name
	}
	return rs.withDefaults()
}

// runEnv is the keyspace and topic of one run, created fresh and removed
// afterwards.
type runEnv struct {
	name, keyspace, topic string
}

func (b *bencher) prepare(ctx context.Context, workload, proc string) (runEnv, error) {
	name := workload + "-" + proc
	re := runEnv{
		name:     name,
		keyspace: "bench_" + b.runID + "_" + workload + "_" + proc,
		topic:    "bench." + b.runID + "." + workload + "." + proc,
	}
	if proc == "" {
		re.name, re.keyspace, re.topic = workload, "", "bench."+b.runID+"."+workload
	}
	if re.keyspace != "" {
		if err := schema.Apply(ctx, b.session.Session, schema.Options{Keyspace: re.keyspace}); err != nil {
			return re, err
		}
	}
	err := b.admin.CreateTopic(re.topic, &sarama.TopicDetail{NumPartitions: b.o.Partitions, ReplicationFactor: b.o.ReplicationFactor}, false)
	if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		return re, fmt.Errorf("bench: create topic %s: %w", re.topic, err)
	}
	return re, nil
}

// cleanup drops the run's keyspace and topic: a 100,000-event run leaves
// several hundred MiB in the embedded database otherwise.
func (b *bencher) cleanup(re runEnv) {
	if re.keyspace != "" {
		if err := b.session.Query("DROP KEYSPACE IF EXISTS "+re.keyspace, nil).Exec(); err != nil {
			b.logf("dropping keyspace %s: %v", re.keyspace, err)
		}
	}
	if err := b.admin.DeleteTopic(re.topic); err != nil {
		b.logf("deleting topic %s: %v", re.topic, err)
	}
}

// profilePath is where the relay child of re writes its CPU profile, if
// CPUProfileDir is set.
func (b *bencher) profilePath(re runEnv) string {
	return absIn(b.o.CPUProfileDir, re.name+".pprof")
}

// heapProfilePrefix starts the names of the heap profiles of re's relay
// child, if HeapProfileDir is set.
func (b *bencher) heapProfilePrefix(re runEnv) string {
	return absIn(b.o.HeapProfileDir, re.name)
}

// absIn is the absolute path of name in dir ("" if dir is): the child
// runs in a directory of its own choosing.
func absIn(dir, name string) string {
	if dir == "" {
		return ""
	}
	p, err := filepath.Abs(filepath.Join(dir, name))
	if err != nil {
		return ""
	}
	return p
}

// profileSelf profiles this process (the embedded stack, the consumer and,
// for the baseline, the producer) until the returned function is called,
// when CPUProfileDir is set.
func (b *bencher) profileSelf(re runEnv) func() {
	if b.o.CPUProfileDir == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(b.o.CPUProfileDir, "stack-"+re.name+".pprof"))
	if err != nil {
		b.logf("stack profile: %v", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.logf("stack profile: %v", errors.Join(err, f.Close()))
		return func() {}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			if err := f.Close(); err != nil {
				b.logf("stack profile: %v", err)
			}
		})
	}
}

// collectBeforeTiming runs a garbage collection of the bench process just
// before a timed drain or baseline. The embedded stack holds every event of
// the backlog (about 4 KiB each) in this process, so one collection marks
// hundreds of MB with both cores: whether it falls inside a timed window
// of a few seconds or just before it would otherwise decide the figure.
// Afterwards the heap may grow by what it holds before the next one, the
// same allowance for the relay's drain and for the baseline.
func collectBeforeTiming() { runtime.GC() }

// profileSelfHeap writes this process's heap profile (the embedded
// stack holding the backlog, the tracker) to HeapProfileDir, if set.
func (b *bencher) profileSelfHeap(re runEnv) {
	if b.o.HeapProfileDir == "" {
		return
	}
	// The profile shows the heap as of the last collection.
	runtime.GC()
	if err := writeHeapProfile(filepath.Join(b.o.HeapProfileDir, "stack-"+re.name+".heap.pprof")); err != nil {
		b.logf("stack heap profile: %v", err)
	}
}

// steady runs the steady workload against one processor.
func (b *bencher) steady(ctx context.Context, proc string) (SteadyResult, error) {
	o := b.o
	re, err := b.prepare(ctx, "steady", proc)
	defer b.cleanup(re)
	if err != nil {
		return SteadyResult{}, err
	}
	tr := newTracker()
	cctx, stopConsume := context.WithCancel(ctx)
	defer stopConsume()
	consumeErr := consume(cctx, b.brokers, re.topic, tr)

	rs := b.relaySettings(proc, re, time.Now().Add(-time.Second))
	rs.CPUProfile, rs.HeapProfile = b.profilePath(re), b.heapProfilePrefix(re)
	b.logf("steady %s: starting the relay", proc)
	notify := make(chan struct{}, 1)
	p, err := startRelay(ctx, &o, rs, notify)
	if err != nil {
		return SteadyResult{}, err
	}
	eff, startup, err := p.waitReady(ctx, time.Minute)
	if err == nil {
		// Alone in its group, the relay is elected at once; it publishes
		// only from then on.
		_, _, err = awaitRole(ctx, notify, leader.Active.String(), time.Minute, p)
	}
	if err != nil {
		return SteadyResult{}, errors.Join(err, p.stop(30*time.Second))
	}
	time.Sleep(settle)

	b.logf("steady %s: writing %d events/s for %s", proc, o.Rate, o.Duration)
	w := &writer{store: storage.NewOrderStore(b.session, storage.OrderStoreOptions{Keyspace: re.keyspace}), tr: tr,
		gen: domain.NewUUIDv7Generator(), perOrder: o.EventsPerOrder}
	ws, werr := w.steady(ctx, o.Rate, o.Duration, o.SteadyWriters)
	_, missing, waitErr := tr.waitAll(ctx, ws.events, 30*time.Second+o.Duration)
	sample, sampleErr := p.sample()
	stopErr := p.stop(30 * time.Second)
	stopConsume()
	consumeErr2 := <-consumeErr

	st := tr.stats()
	sum := summarize(st.lat)
	saves := summarize(ws.saveLat)
	r := SteadyResult{
		Processor: proc, Rate: o.Rate, Events: ws.events, Received: st.unique, Missing: missing,
		Duplicates: st.dupes, OutOfOrder: st.outOfOrder,
		Min: Duration(sum.min), P50: Duration(sum.p50), P95: Duration(sum.p95), P99: Duration(sum.p99),
		Max: Duration(sum.max), Mean: Duration(sum.mean),
		WriterSaveP99:  Duration(saves.p99),
		StartupSeconds: startup.Seconds(),
		Histogram:      histogram(st.lat),
		Relay:          eff,
	}
	if ws.elapsed > 0 {
		r.AchievedRate = float64(ws.events) / ws.elapsed.Seconds()
	}
	if proc == outbox.ProcessorCDC {
		r.ConfidenceWindow, r.PollDelay = eff.CDC.ConfidenceWindow, eff.CDC.PostEmptyQueryDelay
	} else {
		r.PollDelay = eff.Polling.Interval
	}
	if r.P99 > 0 {
		r.ConfidenceShare = float64(r.ConfidenceWindow) / float64(r.P99)
	}
	if sampleErr == nil {
		r.RelayCPUSeconds, r.PeakRSSBytes = sample.CPUSeconds, sample.PeakRSS
		if ws.events > 0 {
			r.CPUSecondsPer1000 = sample.CPUSeconds / float64(ws.events) * 1000
		}
	}
	b.logf("steady %s: %d events, p50 %s p99 %s max %s", proc, r.Events, r.P50, r.P99, r.Max)
	if consumeErr2 != nil {
		consumeErr2 = fmt.Errorf("consumer: %w", consumeErr2)
	}
	return r, errors.Join(werr, waitErr, sampleErr, stopErr, consumeErr2)
}

// medianBaseline is the repetition with the median consumed rate, with
// every repetition's rates attached. Of an even number (a run of one
// processor has two) it takes the faster of the middle two: the relay's
// rate is divided by it, and a ratio must not be flattered by the
// baseline's slower moment.
func medianBaseline(reps []BaselineResult) BaselineResult {
	if len(reps) == 0 {
		return BaselineResult{}
	}
	sorted := slices.Clone(reps)
	slices.SortFunc(sorted, func(a, b BaselineResult) int { return cmp.Compare(a.MsgsPerSec, b.MsgsPerSec) })
	m := sorted[len(sorted)/2]
	m.Repetitions = len(reps)
	m.RunsMsgsPerSec, m.RunsProducerMsgsPerSec = nil, nil
	for _, r := range reps {
		m.RunsMsgsPerSec = append(m.RunsMsgsPerSec, math.Round(r.MsgsPerSec))
		m.RunsProducerMsgsPerSec = append(m.RunsProducerMsgsPerSec, math.Round(r.ProducerMsgsPerSec))
	}
	return m
}

// baseline runs the raw producer on a topic of its own.
func (b *bencher) baseline(ctx context.Context, rep int) (BaselineResult, error) {
	o := b.o
	re, err := b.prepare(ctx, "baseline"+strconv.Itoa(rep), "")
	defer b.cleanup(re)
	if err != nil {
		return BaselineResult{}, err
	}
	tr := newTracker()
	msgs, size, err := baselineMessages(re.topic, o.baselineMessages(), o.EventsPerOrder, tr)
	if err != nil {
		return BaselineResult{}, err
	}
	cctx, stopConsume := context.WithCancel(ctx)
	defer stopConsume()
	consumeErr := consume(cctx, b.brokers, re.topic, tr)
	// Let the consumer connect and fetch the empty topic once, as it has
	// when a relay starts.
	time.Sleep(500 * time.Millisecond)
	b.logf("baseline %d: producing %d messages", rep, len(msgs))
	collectBeforeTiming()
	self0, _ := sampleProc("self")
	stopProfile := b.profileSelf(re)
	sc, err := baselineConfig(b.brokers, o.Linger)
	if err != nil {
		return BaselineResult{}, err
	}
	acked, consumed, err := runBaseline(ctx, b.brokers, sc, msgs, tr, 2*time.Minute+time.Duration(o.Backlog)*time.Millisecond)
	stopProfile()
	self1, _ := sampleProc("self")
	stopConsume()
	if cerr := <-consumeErr; cerr != nil && err == nil {
		err = fmt.Errorf("consumer: %w", cerr)
	}
	r := BaselineResult{Messages: len(msgs), Bytes: size, Topic: re.topic,
		Seconds: consumed.Seconds(), ProducerSeconds: acked.Seconds(),
		StackCPUSeconds: self1.CPUSeconds - self0.CPUSeconds, StackRSSBytes: self1.RSS}
	if len(msgs) > 0 {
		r.AvgMessageBytes = float64(size) / float64(len(msgs))
	}
	if len(msgs) < o.Backlog {
		r.BacklogEvents = o.Backlog
	}
	if consumed > 0 {
		r.MsgsPerSec = float64(len(msgs)) / consumed.Seconds()
	}
	if acked > 0 {
		r.ProducerMsgsPerSec = float64(len(msgs)) / acked.Seconds()
	}
	b.logf("baseline %d: %.0f msgs/s consumed, %.0f msgs/s acknowledged; bench process RSS %s", rep, r.MsgsPerSec, r.ProducerMsgsPerSec, mib(r.StackRSSBytes))
	return r, err
}

// backlog writes the backlog with no relay running, then times a relay
// draining it.
func (b *bencher) backlog(ctx context.Context, proc string) (BacklogResult, error) {
	o := b.o
	re, err := b.prepare(ctx, "backlog", proc)
	defer b.cleanup(re)
	if err != nil {
		return BacklogResult{}, err
	}
	tr := newTracker()
	startFrom := time.Now().Add(-time.Second)
	b.logf("backlog %s: writing %d events, relay stopped", proc, o.Backlog)
	w := &writer{store: storage.NewOrderStore(b.session, storage.OrderStoreOptions{Keyspace: re.keyspace}), tr: tr,
		gen: domain.NewUUIDv7Generator(), perOrder: o.EventsPerOrder}
	var lastWritten int64
	var lastWriteAt time.Duration
	stopWriteProgress := b.every(func(elapsed time.Duration) {
		n := w.written.Load()
		rate := float64(n-lastWritten) / (elapsed - lastWriteAt).Seconds()
		lastWritten, lastWriteAt = n, elapsed
		self, _ := sampleProc("self")
		b.logf("backlog %s: written %d of %d events (%.0f%%) in %s, %.0f events/s (%.0f/s on average); bench process RSS %s",
			proc, n, o.Backlog, 100*float64(n)/float64(o.Backlog), elapsed.Round(time.Second), rate,
			float64(n)/elapsed.Seconds(), mib(self.RSS))
	})
	ws, err := w.backlog(ctx, o.Backlog, o.BacklogWriters)
	stopWriteProgress()
	if err != nil {
		return BacklogResult{}, err
	}
	b.logf("backlog %s: %d events written in %s (%.0f events/s)", proc, ws.events, ws.elapsed.Round(time.Millisecond),
		float64(ws.events)/ws.elapsed.Seconds())
	b.profileSelfHeap(re)
	cctx, stopConsume := context.WithCancel(ctx)
	defer stopConsume()
	consumeErr := consume(cctx, b.brokers, re.topic, tr)
	time.Sleep(500 * time.Millisecond)

	rs := b.relaySettings(proc, re, startFrom)
	rs.CPUProfile, rs.HeapProfile = b.profilePath(re), b.heapProfilePrefix(re)
	b.logf("backlog %s: starting the relay", proc)
	collectBeforeTiming()
	self0, _ := sampleProc("self")
	stopProfile := b.profileSelf(re)
	defer stopProfile()
	p, err := startRelay(ctx, &o, rs, nil)
	if err != nil {
		return BacklogResult{}, err
	}
	eff, startup, err := p.waitReady(ctx, time.Minute)
	if err != nil {
		return BacklogResult{}, errors.Join(err, p.stop(30*time.Second))
	}
	stopDrainProgress := b.drainProgress(proc, p, tr, ws.events)
	done, missing, waitErr := tr.waitAll(ctx, ws.events, 2*time.Minute+time.Duration(o.Backlog)*time.Millisecond)
	stopDrainProgress()
	sample, sampleErr := p.sample()
	stopProfile()
	self1, _ := sampleProc("self")
	stopErr := p.stop(30 * time.Second)
	stopConsume()
	consumeErr2 := <-consumeErr

	st := tr.stats()
	r := BacklogResult{
		Processor: proc, Events: ws.events, WriteSeconds: ws.elapsed.Seconds(),
		StartupSeconds: startup.Seconds(), Missing: missing, Duplicates: st.dupes, OutOfOrder: st.outOfOrder,
		StackCPUSeconds: self1.CPUSeconds - self0.CPUSeconds, Relay: eff,
		TimelineStep: Duration(timelineStep), Timeline: tr.timeline(p.started, timelineStep),
	}
	if st.unique > 0 {
		r.AvgMessageBytes = float64(st.msgBytes) / float64(st.unique)
		r.FirstEventSeconds = st.first.Sub(p.started).Seconds()
	}
	if !done.IsZero() {
		r.Seconds = done.Sub(p.started).Seconds()
		r.EventsPerSec = float64(ws.events) / r.Seconds
		if d := done.Sub(st.first).Seconds(); d > 0 {
			r.DrainEventsPerSec = float64(ws.events) / d
		}
	}
	if sampleErr == nil {
		r.RelayCPUSeconds, r.PeakRSSBytes = sample.CPUSeconds, sample.PeakRSS
		if ws.events > 0 {
			r.CPUSecondsPer1000 = sample.CPUSeconds / float64(ws.events) * 1000
		}
	}
	b.logf("backlog %s: %d events in %.2fs (%.0f/s), relay CPU %.2fs, peak RSS %s", proc, r.Events, r.Seconds, r.EventsPerSec, r.RelayCPUSeconds, mib(r.PeakRSSBytes))
	if consumeErr2 != nil {
		consumeErr2 = fmt.Errorf("consumer: %w", consumeErr2)
	}
	return r, errors.Join(waitErr, sampleErr, stopErr, consumeErr2)
}

// progressEvery is how often long work (writing and draining a backlog)
// reports how far it got.
const progressEvery = 5 * time.Second

// every calls report with the time since its start every progressEvery,
// until the returned function is called (which waits for a report under
// way to finish).
func (b *bencher) every(report func(elapsed time.Duration)) (stop func()) {
	start := time.Now()
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				report(time.Since(start))
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			<-exited
		})
	}
}

// drainProgress reports a backlog drain's progress: events consumed, the
// rate since the last report, the relay's CPU and memory, and the bench
// process's memory (the embedded stack holds the backlog).
func (b *bencher) drainProgress(proc string, p *relayProc, tr *tracker, total int) (stop func()) {
	last, lastAt := 0, time.Duration(0)
	return b.every(func(elapsed time.Duration) {
		n := tr.received()
		rate := float64(n-last) / (elapsed - lastAt).Seconds()
		last, lastAt = n, elapsed
		relay := "relay: exited"
		if s, err := p.sample(); err == nil {
			relay = fmt.Sprintf("relay CPU %.1fs, RSS %s (peak %s)", s.CPUSeconds, mib(s.RSS), mib(s.PeakRSS))
		}
		self, _ := sampleProc("self")
		b.logf("backlog %s: consumed %d of %d events (%.0f%%) in %s, %.0f events/s; %s; bench process RSS %s",
			proc, n, total, 100*float64(n)/float64(total), elapsed.Round(time.Second), rate, relay, mib(self.RSS))
	})
}

// closeJoin closes c and joins a failure, naming what, into *err; deferred,
// it reports what a function opened for itself along with its result.
func closeJoin(err *error, what string, c io.Closer) {
	if cerr := c.Close(); cerr != nil {
		*err = errors.Join(*err, fmt.Errorf("bench: close %s: %w", what, cerr))
	}
}
