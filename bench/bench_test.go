package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/messaging"
)

// TestMain lets the bench re-execute this test binary as its relay child,
// a process of its own as in production.
func TestMain(m *testing.M) {
	if IsRelayChild() {
		if err := RunRelayChild(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func testRelayCommand(ctx context.Context, env []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = env
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	return cmd
}

// A tiny run of every workload on both processors: the report is
// complete and consistent, every event arrived once and in order (the
// failover: at least once, in order), and the JSON and SVG files are
// well-formed.
func TestRunTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded stack and eight relay processes")
	}
	dir := t.TempDir()
	// Not there yet: Run creates it.
	heapDir := filepath.Join(dir, "heap")
	var table bytes.Buffer
	o := Options{
		Rate: 200, Duration: 2 * time.Second, Backlog: 1000, BaselineMax: 600,
		RelayCommand:   testRelayCommand,
		HeapProfileDir: heapDir,
		ComparePath:    "results/full-2core.json",
		JSONPath:       filepath.Join(dir, "report.json"),
		SVGPath:        filepath.Join(dir, "latency.svg"),
		Out:            &table,
		Progress:       testWriter{t},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rep, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + table.String())

	if rep.Machine.Cores < 1 || rep.Machine.GoVersion == "" || rep.Settings.Relay.MaxInFlight == 0 {
		t.Fatalf("machine or settings missing: %+v %+v", rep.Machine, rep.Settings)
	}
	if len(rep.Steady) != 2 || len(rep.Failover) != 2 || len(rep.Backlog) != 2 {
		t.Fatalf("want 2 steady, 2 failover and 2 backlog results, got %d, %d and %d", len(rep.Steady), len(rep.Failover), len(rep.Backlog))
	}
	for _, s := range rep.Steady {
		if s.Events != 400 || s.Received != s.Events || s.Missing != 0 || s.Duplicates != 0 || s.OutOfOrder != 0 {
			t.Errorf("steady %s: %d written, %d received, %d missing, %d duplicates, %d out of order",
				s.Processor, s.Events, s.Received, s.Missing, s.Duplicates, s.OutOfOrder)
		}
		if !(0 < s.Min && s.Min <= s.P50 && s.P50 <= s.P95 && s.P95 <= s.P99 && s.P99 <= s.Max) {
			t.Errorf("steady %s: percentiles out of order: %+v", s.Processor, s)
		}
		n := 0
		for _, b := range s.Histogram {
			n += b.Count
		}
		if n != s.Received {
			t.Errorf("steady %s: histogram holds %d events, want %d", s.Processor, n, s.Received)
		}
		if s.Relay.Processor != s.Processor || s.Relay.Keyspace == "" {
			t.Errorf("steady %s: the child's effective settings are missing: %+v", s.Processor, s.Relay)
		}
		if s.RelayCPUSeconds <= 0 || s.PeakRSSBytes <= 0 {
			t.Errorf("steady %s: relay CPU %v s, peak RSS %d", s.Processor, s.RelayCPUSeconds, s.PeakRSSBytes)
		}
	}
	if c := rep.Steady[0]; c.Processor != "cdc" || c.ConfidenceWindow <= 0 || c.ConfidenceShare <= 0 {
		t.Errorf("cdc steady result lacks the confidence window: %+v", c)
	}
	for i, f := range rep.Failover {
		if f.Events != 400 || f.Received != f.Events || f.Missing != 0 || f.OutOfOrder != 0 || f.Relays != 2 {
			t.Errorf("failover %s: %d written, %d received, %d missing, %d out of order, %d relays",
				f.Processor, f.Events, f.Received, f.Missing, f.OutOfOrder, f.Relays)
		}
		if f.KillAfterSeconds <= 0 || f.TakeoverSeconds <= 0 || f.GapSeconds <= 0 || f.ReceivedGapSeconds < f.GapSeconds {
			t.Errorf("failover %s: kill after %vs, takeover %vs, gap %vs (received %vs)",
				f.Processor, f.KillAfterSeconds, f.TakeoverSeconds, f.GapSeconds, f.ReceivedGapSeconds)
		}
		if s := rep.Steady[i]; s.Processor != f.Processor || f.SteadyP99 != s.P99 || f.ExtraP99 != f.P99-s.P99 {
			t.Errorf("failover %s: steady p99 %s, extra %s; steady run %s p99 %s", f.Processor, f.SteadyP99, f.ExtraP99, s.Processor, s.P99)
		}
		if f.Relay.Name == "" || f.Relay.Name == rep.Steady[i].Relay.Name || f.Relay.Election.SessionTimeout <= 0 {
			t.Errorf("failover %s: relay name %q (steady run's %q), election %+v", f.Processor, f.Relay.Name, rep.Steady[i].Relay.Name, f.Relay.Election)
		}
	}
	if b := rep.Baseline; b.Messages != 600 || b.BacklogEvents != 1000 || b.MsgsPerSec <= 0 || b.ProducerMsgsPerSec <= 0 || b.Bytes <= 0 {
		t.Errorf("baseline: %+v", b)
	}
	for _, b := range rep.Backlog {
		if b.Events != 1000 || b.Missing != 0 || b.Duplicates != 0 || b.OutOfOrder != 0 {
			t.Errorf("backlog %s: %d events, %d missing, %d duplicates, %d out of order", b.Processor, b.Events, b.Missing, b.Duplicates, b.OutOfOrder)
		}
		if b.Seconds <= 0 || b.EventsPerSec <= 0 || b.RatioToBaseline <= 0 || b.RelayCPUSeconds <= 0 || b.PeakRSSBytes <= 0 {
			t.Errorf("backlog %s: figures missing: %+v", b.Processor, b)
		}
		// The relay publishes the records the baseline imitates: their
		// sizes must agree (the consumer counts key, value and headers).
		if d := b.AvgMessageBytes - rep.Baseline.AvgMessageBytes; d < -8 || d > 8 {
			t.Errorf("backlog %s: messages of %.0f bytes, baseline %.0f", b.Processor, b.AvgMessageBytes, rep.Baseline.AvgMessageBytes)
		}
	}

	// Every relay but the failover's wrote its heap profiles, and the
	// bench process its own once each backlog was written: gzipped
	// protocol buffers.
	for _, name := range []string{"steady-cdc", "steady-polling", "backlog-cdc", "backlog-polling"} {
		for _, when := range []string{"peak", "end"} {
			b, err := os.ReadFile(filepath.Join(heapDir, name+"-"+when+".heap.pprof"))
			if err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
				t.Errorf("%s %s heap profile: %v (%d bytes)", name, when, err, len(b))
			}
		}
	}
	for _, name := range []string{"stack-backlog-cdc", "stack-backlog-polling"} {
		if b, err := os.ReadFile(filepath.Join(heapDir, name+".heap.pprof")); err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
			t.Errorf("%s heap profile: %v (%d bytes)", name, err, len(b))
		}
	}
	if c := rep.Comparison; c == nil || c.Previous != o.ComparePath || len(c.Figures) == 0 {
		t.Errorf("comparison with %s: %+v", o.ComparePath, c)
	}

	raw, err := os.ReadFile(o.JSONPath)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatalf("JSON report does not parse: %v", err)
	}
	if back.Steady[0].Events != rep.Steady[0].Events || back.Backlog[1].Events != rep.Backlog[1].Events ||
		back.Steady[0].P99.String() != rep.Steady[0].P99.String() {
		t.Fatalf("JSON report does not round-trip: %+v", back.Steady[0])
	}

	svg, err := os.ReadFile(o.SVGPath)
	if err != nil {
		t.Fatal(err)
	}
	checkXML(t, svg)
	for _, want := range []string{"cdc", "polling", "p99"} {
		if !bytes.Contains(svg, []byte(want)) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	for _, want := range []string{"Steady", "Failover", "Backlog", "Baseline", "a sample: 600 of the backlog's 1000 events", "Targets", "Comparison with results/full-2core.json"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q", want)
		}
	}
}

// checkXML fails unless b is well-formed XML with an svg root.
func checkXML(t *testing.T, b []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	root := ""
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	if root != "svg" {
		t.Fatalf("SVG root element is %q", root)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func TestPercentileNearestRank(t *testing.T) {
	lat := make([]time.Duration, 0, 100)
	for i := 100; i >= 1; i-- {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	s := summarize(lat)
	if s.p50 != 50*time.Millisecond || s.p95 != 95*time.Millisecond || s.p99 != 99*time.Millisecond ||
		s.max != 100*time.Millisecond || s.min != time.Millisecond {
		t.Fatalf("%+v", s)
	}
	if got := percentile([]time.Duration{7}, 99); got != 7 {
		t.Fatalf("single sample p99 = %v", got)
	}
}

func TestHistogramBuckets(t *testing.T) {
	h := histogram([]time.Duration{time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond, 11 * time.Millisecond})
	if len(h) != 12 || h[0] != (Bucket{UpperMs: 1, Count: 1}) || h[10] != (Bucket{UpperMs: 10, Count: 2}) || h[11].Count != 1 {
		t.Fatalf("%+v", h)
	}
	// An empty report still draws a valid picture.
	var r Report
	checkXML(t, []byte(r.SVG()))
}

func TestRelaySettingsEnvRoundTrip(t *testing.T) {
	in := RelaySettings{Processor: "polling", ScyllaHosts: []string{"127.0.0.1:9042", "h2"}, KafkaBrokers: []string{"b:9092"},
		Name: "bench-run-steady-polling", Keyspace: "ks", Topic: "t.1", StartFrom: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), CPUProfile: "/tmp/p",
		HeapProfile: "/tmp/h", Linger: Duration(5 * time.Millisecond)}.withDefaults()
	env := map[string]string{}
	for _, kv := range in.env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	out, err := relaySettingsFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("\n in %+v\nout %+v", in, out)
	}
	if _, err := relaySettingsFromEnv(func(string) string { return "" }); err == nil {
		t.Fatal("empty environment accepted")
	}
}

func TestDurationJSON(t *testing.T) {
	b, err := json.Marshal(struct {
		D Duration `json:"d_ms"`
	}{Duration(1500 * time.Microsecond)})
	if err != nil || string(b) != `{"d_ms":1.5}` {
		t.Fatalf("%s %v", b, err)
	}
	var d Duration
	if err := json.Unmarshal([]byte("250"), &d); err != nil || time.Duration(d) != 250*time.Millisecond {
		t.Fatalf("%v %v", d, err)
	}
}

// Which workloads a command line runs: --workloads selects, failover
// brings its steady reference along, a negative rate or backlog switches
// off what it sizes, and an unknown name is refused.
func TestWorkloadSelection(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		runs    []string
		invalid string
	}{
		{args: nil, runs: []string{WorkloadSteady, WorkloadFailover, WorkloadBacklog}},
		{args: []string{"--quick"}, runs: []string{WorkloadSteady, WorkloadFailover, WorkloadBacklog}},
		{args: []string{"--workloads", "failover"}, runs: []string{WorkloadSteady, WorkloadFailover}},
		{args: []string{"--workloads", "backlog"}, runs: []string{WorkloadBacklog}},
		{args: []string{"--workloads", " steady , backlog"}, runs: []string{WorkloadSteady, WorkloadBacklog}},
		{args: []string{"--backlog", "-1"}, runs: []string{WorkloadSteady, WorkloadFailover}},
		{args: []string{"--rate", "-1"}, runs: []string{WorkloadBacklog}},
		{args: []string{"--workloads", "failover", "--rate", "-1"}, runs: nil},
		{args: []string{"--workloads", "steady,crash"}, invalid: `workload "crash"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			o := parseOptions(t, tc.args).withDefaults()
			err := o.validate()
			if tc.invalid != "" {
				if err == nil || !strings.Contains(err.Error(), tc.invalid) {
					t.Fatalf("validate: %v, want an error naming %s", err, tc.invalid)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var runs []string
			for _, w := range AllWorkloads() {
				if o.runs(w) {
					runs = append(runs, w)
				}
			}
			if !slices.Equal(runs, tc.runs) {
				t.Fatalf("runs %v, want %v", runs, tc.runs)
			}
		})
	}
}

// The failover rows: the steady reference and extra p99 per processor,
// the gap target, the table's row and notes, and the delivery verdict,
// which allows the failover's duplicates but not a missing event.
func TestFailoverReport(t *testing.T) {
	ms := func(n float64) Duration { return Duration(n * float64(time.Millisecond)) }
	steady := []SteadyResult{
		{Processor: "cdc", Rate: 1000, AchievedRate: 1000, Events: 30000, Received: 30000, P99: ms(193)},
		{Processor: "polling", Rate: 1000, AchievedRate: 1000, Events: 30000, Received: 30000, P99: ms(62)},
	}
	cdc := FailoverResult{Processor: "cdc", Relays: 2, Rate: 1000, AchievedRate: 1000, Events: 30000, Received: 30000,
		Duplicates: 21, KillAfterSeconds: 15, TakeoverSeconds: 6, GapSeconds: 6.05, ReceivedGapSeconds: 6.06,
		P50: ms(137), P99: ms(6200), Max: ms(6320)}
	polling := FailoverResult{Processor: "polling", Relays: 2, Rate: 1000, AchievedRate: 1000, Events: 30000, Received: 29990,
		Missing: 10, KillAfterSeconds: 15, TakeoverSeconds: 6, GapSeconds: 12.5, P99: ms(12600)}
	for _, tc := range []struct {
		name     string
		steady   []SteadyResult
		failover []FailoverResult
		extra    []Duration
		met      []bool
		table    []string
	}{
		{name: "both processors", steady: steady, failover: []FailoverResult{cdc, polling},
			extra: []Duration{ms(6007), ms(12538)}, met: []bool{true, false},
			table: []string{"election session timeout 6s, heartbeat 1s", "6.05s", "6.01s", "193ms", "21",
				"failover polling: 10 missing, 0 out of order", "MISSED"}},
		{name: "in order, duplicates allowed", steady: steady[:1], failover: []FailoverResult{cdc},
			extra: []Duration{ms(6007)}, met: []bool{true},
			table: []string{"every event arrived, per-aggregate order kept; no duplicates but the failover's"}},
		{name: "no steady run", failover: []FailoverResult{cdc}, extra: []Duration{0}, met: []bool{true}},
		{name: "no record after the kill", steady: steady[:1], failover: []FailoverResult{{Processor: "cdc", Relays: 2, P99: ms(150)}},
			extra: []Duration{ms(-43)}, met: []bool{false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Report{Steady: tc.steady, Failover: slices.Clone(tc.failover)}
			r.Settings.Rate, r.Settings.Duration = 1000, Duration(30*time.Second)
			r.Settings.Relay = RelaySettings{}.withDefaults()
			r.relateFailover()
			r.checkTargets()
			for i, f := range r.Failover {
				if f.ExtraP99 != tc.extra[i] {
					t.Errorf("%s: extra p99 %s, want %s", f.Processor, f.ExtraP99, tc.extra[i])
				}
			}
			var met []bool
			for _, tg := range r.Targets {
				if strings.HasPrefix(tg.Name, "failover gap") {
					met = append(met, tg.Met)
				}
			}
			if !slices.Equal(met, tc.met) {
				t.Errorf("failover targets met %v, want %v: %+v", met, tc.met, r.Targets)
			}
			var table bytes.Buffer
			if err := r.WriteTable(&table); err != nil {
				t.Fatal(err)
			}
			for _, want := range append(tc.table, "Failover:", "extra p99") {
				if !strings.Contains(table.String(), want) {
					t.Errorf("table lacks %q:\n%s", want, table.String())
				}
			}
		})
	}
}

// The successor's first publish is the earliest Kafka timestamp after the
// watched time, whatever the arrival order across partitions, and a
// duplicate counts: it is a record the successor published.
func TestTrackerFirstPublishedAfter(t *testing.T) {
	tr := newTracker()
	agg := uuid.New()
	ids := []uuid.UUID{uuid.New(), uuid.New(), uuid.New()}
	for _, id := range ids {
		tr.expect(id)
	}
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	msg := func(id uuid.UUID, seq int, at time.Duration) messaging.Message {
		return messaging.Message{Timestamp: base.Add(at), Headers: map[string]string{
			messaging.HeaderEventID: id.String(), messaging.HeaderAggregateID: agg.String(), messaging.HeaderSequence: fmt.Sprint(seq)}}
	}
	receive := func(m messaging.Message) {
		t.Helper()
		if err := tr.receive(m); err != nil {
			t.Fatal(err)
		}
	}
	receive(msg(ids[0], 1, 0))
	if p, r := tr.firstAfter(); !p.IsZero() || !r.IsZero() {
		t.Fatalf("nothing watched yet, got %v %v", p, r)
	}
	tr.watchAfter(base.Add(time.Second))
	receive(msg(ids[1], 2, 500*time.Millisecond)) // published before: the dead relay's
	if p, _ := tr.firstAfter(); !p.IsZero() {
		t.Fatalf("a record published before the watched time counted: %v", p)
	}
	receive(msg(ids[2], 3, 7*time.Second))
	_, firstReceipt := tr.firstAfter()
	receive(msg(ids[1], 2, 6*time.Second)) // republished by the successor, read later
	p, r := tr.firstAfter()
	if !p.Equal(base.Add(6*time.Second)) || !r.Equal(firstReceipt) || r.IsZero() {
		t.Fatalf("first published %v, first received %v (want %v, %v)", p, r, base.Add(6*time.Second), firstReceipt)
	}
	if st := tr.stats(); st.unique != 3 || st.dupes != 1 || st.outOfOrder != 0 {
		t.Fatalf("%+v", st)
	}
}

// parseOptions parses args as `outbox bench` does.
func parseOptions(t *testing.T, args []string) Options {
	t.Helper()
	var o Options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	o.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return o
}
