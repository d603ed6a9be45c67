package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// compareCurrent is the run being compared in TestCompare.
func compareCurrent() Report {
	ms := func(n float64) Duration { return Duration(n * float64(time.Millisecond)) }
	r := Report{
		Machine: Machine{Cores: 2, CPUModel: "Xeon", GoVersion: "go1.26.8"},
		Settings: Settings{Command: "outbox bench", Rate: 1000, Duration: Duration(30 * time.Second), Backlog: 1_000_000,
			EventsPerOrder: 5, Stack: "embedded", Partitions: 3, Relay: RelaySettings{}.withDefaults()},
		Steady: []SteadyResult{
			{Processor: "cdc", P50: ms(136), P99: ms(250), CPUSecondsPer1000: 0.254, PeakRSSBytes: 33 << 20, StartupSeconds: 0.5},
			{Processor: "polling", P50: ms(36), P99: ms(62), CPUSecondsPer1000: 0.156, PeakRSSBytes: 35 << 20, StartupSeconds: 0.4},
		},
		Failover: []FailoverResult{{Processor: "cdc", GapSeconds: 6.05, TakeoverSeconds: 5.99, P99: ms(6090), ExtraP99: ms(5900), Duplicates: 35}},
		Backlog: []BacklogResult{
			{Processor: "cdc", Events: 1_000_000, EventsPerSec: 40000, RatioToBaseline: 0.30, RatioToProducer: 0.28,
				CPUSecondsPer1000: 0.021, PeakRSSBytes: 145 << 20, StackCPUSeconds: 18, StartupSeconds: 0.02},
		},
		Baseline: BaselineResult{Messages: 200_000, BacklogEvents: 1_000_000, MsgsPerSec: 133000, ProducerMsgsPerSec: 140000},
		Started:  time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC),
	}
	return r
}

// A previous report in full, with some figures better and some worse than
// the current run's.
const previousFull = `{
  "machine": {"cores": 2, "cpu_model": "Xeon", "go_version": "go1.26.8"},
  "settings": {"command": "outbox bench --json old.json", "rate": 1000, "duration_ms": 30000, "backlog": 100000,
    "events_per_order": 5, "stack": "embedded", "partitions": 3, "relay": {"consistency": "ONE", "max_in_flight": 5000}},
  "steady": [
    {"processor": "cdc", "p50_ms": 136, "p99_ms": 193, "cpu_seconds_per_1000": 0.254, "peak_rss_bytes": 34603008, "startup_seconds": 0.5},
    {"processor": "polling", "p50_ms": 36.3, "p99_ms": 62, "cpu_seconds_per_1000": 0.2, "peak_rss_bytes": 36700160, "startup_seconds": 0.4}
  ],
  "failover": [{"processor": "cdc", "gap_seconds": 6.1, "takeover_seconds": 6.0, "p99_ms": 6100, "extra_p99_ms": 5900, "duplicates": 0}],
  "backlog": [
    {"processor": "cdc", "events": 100000, "events_per_sec": 46651, "ratio_to_baseline": 0.22, "ratio_to_producer": 0.21,
      "cpu_seconds_per_1000": 0.021, "peak_rss_bytes": 152043520, "stack_cpu_seconds": 1.79, "startup_seconds": 0.02},
    {"processor": "polling", "events": 100000, "events_per_sec": 9882, "ratio_to_baseline": 0.05}
  ],
  "baseline": {"messages": 100000, "msgs_per_sec": 211299, "producer_msgs_per_sec": 221851},
  "started": "2026-04-01T10:00:00Z"
}`

// An older report: no failover section, no startup in the steady rows,
// a backlog row without x producer and peak RSS, no baseline figures.
const previousOld = `{
  "settings": {"backlog": 1000000},
  "steady": [{"processor": "cdc", "p50_ms": 140, "p99_ms": 200, "cpu_seconds_per_1000": 0.26, "peak_rss_bytes": 34603008}],
  "backlog": [{"processor": "cdc", "events": 1000000, "events_per_sec": 40000, "ratio_to_baseline": 0.30,
    "cpu_seconds_per_1000": 0.021, "stack_cpu_seconds": 18, "startup_seconds": 0.02}]
}`

func TestCompare(t *testing.T) {
	type want struct {
		prev, cur, change, pct string // as the table renders them
		verdict                string
	}
	for _, tc := range []struct {
		name         string
		previous     string
		current      func(r *Report) // changes compareCurrent()
		figures      map[string]want // workload/processor/figure
		regressions  int
		improvements int
		differ       []string
		table        []string
		invalid      bool
	}{
		{
			name: "every figure in both", previous: previousFull,
			figures: map[string]want{
				"steady/cdc/p99":                   {"193ms", "250ms", "+57ms", "+29.5%", VerdictRegression},
				"steady/cdc/p50":                   {"136ms", "136ms", "+0s", "+0.0%", VerdictWithin},
				"steady/polling/relay CPU s/1k":    {"0.200", "0.156", "-0.044", "-22.0%", VerdictImprovement},
				"failover/cdc/gap":                 {"6.10s", "6.05s", "-0.05s", "-0.8%", VerdictWithin},
				"failover/cdc/duplicates":          {"0", "35", "+35", "n/a", VerdictNA},
				"backlog/cdc/events/s":             {"46651/s", "40000/s", "-6651/s", "-14.3%", VerdictRegression},
				"backlog/cdc/x baseline":           {"0.22", "0.30", "+0.08", "+36.4%", VerdictImprovement},
				"backlog/cdc/relay peak RSS":       {"145 MiB", "145 MiB", "+0 MiB", "+0.0%", VerdictWithin},
				"backlog/cdc/stack CPU s/1k":       {"0.018", "0.018", "+0.000", "+0.6%", VerdictWithin},
				"backlog/polling/events/s":         {"9882/s", "n/a", "n/a", "n/a", VerdictNA},
				"backlog/polling/relay peak RSS":   {},
				"baseline//msgs/s to consumed":     {"211299/s", "133000/s", "-78299/s", "-37.1%", VerdictRegression},
				"baseline//msgs/s to acknowledged": {"221851/s", "140000/s", "-81851/s", "-36.9%", VerdictRegression},
			},
			regressions: 4, improvements: 3,
			differ: []string{"backlog: 100000 → 1000000", "baseline messages: 100000 → 200000"},
			table: []string{"Comparison with prev.json (run 2026-04-01 10:00 UTC: outbox bench --json old.json)", "REGRESSION", "improvement",
				"x baseline *", "trust the ratios", "the baseline itself moved -37.1%", "settings differ: backlog: 100000 → 1000000", "4 regressions, 3 improvements beyond ±10%"},
		},
		{
			name: "an older report lacks figures", previous: previousOld,
			figures: map[string]want{
				"steady/cdc/p99":               {"200ms", "250ms", "+50ms", "+25.0%", VerdictRegression},
				"steady/cdc/startup":           {"n/a", "0.50s", "n/a", "n/a", VerdictNA},
				"steady/polling/p99":           {"n/a", "62ms", "n/a", "n/a", VerdictNA},
				"failover/cdc/gap":             {"n/a", "6.05s", "n/a", "n/a", VerdictNA},
				"backlog/cdc/x baseline":       {"0.30", "0.30", "+0.00", "+0.0%", VerdictWithin},
				"backlog/cdc/x producer":       {"n/a", "0.28", "n/a", "n/a", VerdictNA},
				"backlog/cdc/relay peak RSS":   {"n/a", "145 MiB", "n/a", "n/a", VerdictNA},
				"baseline//msgs/s to consumed": {"n/a", "133000/s", "n/a", "n/a", VerdictNA},
			},
			regressions: 1, improvements: 0,
			table: []string{"Comparison with prev.json; a change", "n/a", "1 regressions, 0 improvements"},
		},
		{
			name: "no backlog in this run", previous: previousFull,
			current: func(r *Report) { r.Backlog, r.Baseline, r.Settings.Backlog = nil, BaselineResult{}, 100000 },
			figures: map[string]want{
				"backlog/cdc/x baseline":       {"0.22", "n/a", "n/a", "n/a", VerdictNA},
				"baseline//msgs/s to consumed": {"211299/s", "n/a", "n/a", "n/a", VerdictNA},
			},
			regressions: 1, improvements: 1,
			table: []string{"1 regressions, 1 improvements"},
		},
		{name: "not a report", previous: `[1, 2]`, invalid: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cur := compareCurrent()
			if tc.current != nil {
				tc.current(&cur)
			}
			c, err := Compare([]byte(tc.previous), cur, DefaultCompareThreshold)
			if tc.invalid {
				if err == nil {
					t.Fatal("accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c.Previous = "prev.json"
			got := map[string]FigureChange{}
			for _, f := range c.Figures {
				got[f.Workload+"/"+f.Processor+"/"+f.Figure] = f
			}
			for key, w := range tc.figures {
				f, ok := got[key]
				if w == (want{}) {
					if ok {
						t.Errorf("%s: listed though neither report has it: %+v", key, f)
					}
					continue
				}
				if !ok {
					t.Errorf("%s: missing", key)
					continue
				}
				g := want{formatFigure(f.Unit, f.Previous, false), formatFigure(f.Unit, f.Current, false),
					formatFigure(f.Unit, f.Change, true), formatPercent(f.ChangePercent), f.Verdict}
				if g != w {
					t.Errorf("%s:\n got %+v\nwant %+v", key, g, w)
				}
			}
			if c.Regressions != tc.regressions || c.Improvements != tc.improvements {
				t.Errorf("%d regressions, %d improvements; want %d, %d", c.Regressions, c.Improvements, tc.regressions, tc.improvements)
			}
			if strings.Join(c.SettingsDiffer, "; ") != strings.Join(tc.differ, "; ") {
				t.Errorf("settings differ %q, want %q", c.SettingsDiffer, tc.differ)
			}
			r := cur
			r.Comparison = c
			var table bytes.Buffer
			if err := r.WriteTable(&table); err != nil {
				t.Fatal(err)
			}
			out := table.String()
			i := strings.Index(out, "\nComparison with")
			if i < 0 || i < strings.Index(out, "\ntotal ") {
				t.Fatalf("no comparison after the run's table:\n%s", out)
			}
			for _, s := range tc.table {
				if !strings.Contains(out[i:], s) {
					t.Errorf("comparison table lacks %q:\n%s", s, out[i:])
				}
			}
			// The comparison is part of the JSON report and reads back.
			raw, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			var back Report
			if err := json.Unmarshal(raw, &back); err != nil || back.Comparison == nil || len(back.Comparison.Figures) != len(c.Figures) {
				t.Fatalf("comparison does not round-trip through JSON: %v", err)
			}
		})
	}
}

// The reports checked in under results/ are read by this version of the
// bench, and a report compared with itself has not changed.
func TestCompareCheckedInResults(t *testing.T) {
	paths, err := filepath.Glob("results/*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no reports in results/: %v", err)
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			var r Report
			if err := json.Unmarshal(raw, &r); err != nil {
				t.Fatal(err)
			}
			c, err := Compare(raw, r, DefaultCompareThreshold)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Figures) == 0 || c.Regressions+c.Improvements != 0 || len(c.SettingsDiffer) != 0 {
				t.Fatalf("%d figures, %d regressions, %d improvements, settings differ %q",
					len(c.Figures), c.Regressions, c.Improvements, c.SettingsDiffer)
			}
			for _, f := range c.Figures {
				if f.Previous == nil || f.Current == nil || f.Verdict != VerdictWithin && *f.Previous != 0 {
					t.Errorf("%s %s %s: %+v", f.Workload, f.Processor, f.Figure, f)
				}
			}
		})
	}
}

// The target of the large backlog (every event, in order, within the RSS
// bound) and the baseline's sample line.
func TestLargeBacklogTarget(t *testing.T) {
	for _, tc := range []struct {
		name   string
		b      BacklogResult
		target string
		met    bool
	}{
		{name: "met", b: BacklogResult{Processor: "cdc", Events: 1_000_000, PeakRSSBytes: 200 << 20},
			target: "backlog of 1000000 drained, cdc", met: true},
		{name: "at the bound", b: BacklogResult{Processor: "polling", Events: 1_000_000, PeakRSSBytes: 256 << 20},
			target: "backlog of 1000000 drained, polling", met: true},
		{name: "over the bound", b: BacklogResult{Processor: "cdc", Events: 1_000_000, PeakRSSBytes: 257 << 20},
			target: "backlog of 1000000 drained, cdc"},
		{name: "an event missing", b: BacklogResult{Processor: "cdc", Events: 1_000_000, Missing: 1, PeakRSSBytes: 100 << 20},
			target: "backlog of 1000000 drained, cdc"},
		{name: "out of order", b: BacklogResult{Processor: "cdc", Events: 1_000_000, OutOfOrder: 3, PeakRSSBytes: 100 << 20},
			target: "backlog of 1000000 drained, cdc"},
		{name: "no RSS measured", b: BacklogResult{Processor: "cdc", Events: 1_000_000},
			target: "backlog of 1000000 drained, cdc"},
		{name: "smaller backlog", b: BacklogResult{Processor: "cdc", Events: 100_000, PeakRSSBytes: 300 << 20},
			target: "relay peak RSS draining 100000 events, cdc", met: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Report{Backlog: []BacklogResult{tc.b},
				Baseline: BaselineResult{Messages: 200_000, BacklogEvents: tc.b.Events, MsgsPerSec: 1}}
			r.checkTargets()
			var found *Target
			for i := range r.Targets {
				if r.Targets[i].Name == tc.target {
					found = &r.Targets[i]
				}
			}
			if found == nil || found.Met != tc.met {
				t.Fatalf("target %q: got %+v among %+v, want met=%v", tc.target, found, r.Targets, tc.met)
			}
			var table bytes.Buffer
			if err := r.WriteTable(&table); err != nil {
				t.Fatal(err)
			}
			sample := strings.Contains(table.String(), "a sample: 200000 of the backlog's")
			if sample != (tc.b.Events > 200_000) {
				t.Errorf("sample line shown %v for a backlog of %d:\n%s", sample, tc.b.Events, table.String())
			}
		})
	}
}

// The performance issue's targets, each at and beyond its bound.
func TestPerformanceTargets(t *testing.T) {
	steady := func(proc string, p99 time.Duration, cpu float64) SteadyResult {
		return SteadyResult{Processor: proc, Rate: 1000, AchievedRate: 1000, P99: Duration(p99), CPUSecondsPer1000: cpu}
	}
	for _, tc := range []struct {
		name   string
		r      Report
		target string
		met    bool
	}{
		{name: "cdc drain at the ratio", r: Report{Backlog: []BacklogResult{{Processor: "cdc", Events: 100_000, EventsPerSec: 50_000, RatioToProducer: 0.35, RatioToBaseline: 0.4}}},
			target: "backlog drain vs raw producer (msgs/s to acknowledged), cdc", met: true},
		{name: "cdc drain below it, however it compares to consumed", r: Report{Backlog: []BacklogResult{{Processor: "cdc", Events: 100_000, EventsPerSec: 50_000, RatioToProducer: 0.34, RatioToBaseline: 0.5}}},
			target: "backlog drain vs raw producer (msgs/s to acknowledged), cdc"},
		{name: "cdc drain missing an event", r: Report{Backlog: []BacklogResult{{Processor: "cdc", Events: 100_000, EventsPerSec: 50_000, RatioToProducer: 0.5, Missing: 1}}},
			target: "backlog drain vs raw producer (msgs/s to acknowledged), cdc"},
		{name: "polling drain at the rate", r: Report{Backlog: []BacklogResult{{Processor: "polling", Events: 100_000, EventsPerSec: 25_000, StackCPUSeconds: 2}}},
			target: "backlog drain, polling", met: true},
		{name: "polling drain below it", r: Report{Backlog: []BacklogResult{{Processor: "polling", Events: 100_000, EventsPerSec: 24_999}}},
			target: "backlog drain, polling"},
		{name: "steady p99 at the bound", r: Report{Steady: []SteadyResult{steady("cdc", 150*time.Millisecond, 0.1)}},
			target: "steady 1000 events/s p99, cdc", met: true},
		{name: "steady p99 beyond it", r: Report{Steady: []SteadyResult{steady("cdc", 151*time.Millisecond, 0.1)}},
			target: "steady 1000 events/s p99, cdc"},
		{name: "steady CPU at the bound", r: Report{Steady: []SteadyResult{steady("polling", 50*time.Millisecond, 0.15)}},
			target: "steady 1000 events/s relay CPU per 1,000 events, polling", met: true},
		{name: "steady CPU beyond it", r: Report{Steady: []SteadyResult{steady("polling", 50*time.Millisecond, 0.151)}},
			target: "steady 1000 events/s relay CPU per 1,000 events, polling"},
		{name: "steady CPU not measured", r: Report{Steady: []SteadyResult{steady("polling", 50*time.Millisecond, 0)}},
			target: "steady 1000 events/s relay CPU per 1,000 events, polling"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.r.checkTargets()
			var found *Target
			for i := range tc.r.Targets {
				if tc.r.Targets[i].Name == tc.target {
					found = &tc.r.Targets[i]
				}
			}
			if found == nil || found.Met != tc.met {
				t.Fatalf("target %q: got %+v among %+v, want met=%v", tc.target, found, tc.r.Targets, tc.met)
			}
		})
	}
}

// The baseline the ratios divide by: the median repetition, and of an even
// number the faster of the middle two, so that a slow moment of the
// baseline never flatters the relay.
func TestMedianBaseline(t *testing.T) {
	for _, tc := range []struct {
		rates []float64
		want  float64
	}{
		{[]float64{150_000}, 150_000},
		{[]float64{210_000, 140_000}, 210_000},
		{[]float64{140_000, 210_000}, 210_000},
		{[]float64{200_000, 100_000, 150_000}, 150_000},
		{[]float64{300_000, 100_000, 200_000, 400_000}, 300_000},
	} {
		reps := make([]BaselineResult, len(tc.rates))
		for i, r := range tc.rates {
			reps[i] = BaselineResult{MsgsPerSec: r, ProducerMsgsPerSec: r + 1}
		}
		m := medianBaseline(reps)
		if m.MsgsPerSec != tc.want || m.ProducerMsgsPerSec != tc.want+1 || m.Repetitions != len(tc.rates) || len(m.RunsMsgsPerSec) != len(tc.rates) {
			t.Errorf("medianBaseline(%v) = %v msgs/s (%d repetitions, runs %v), want %v", tc.rates, m.MsgsPerSec, m.Repetitions, m.RunsMsgsPerSec, tc.want)
		}
	}
}

// How many messages the baseline sends: the backlog, capped by
// --baseline-max unless that is negative.
func TestBaselineMessages(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{args: nil, want: 100_000},
		{args: []string{"--quick"}, want: 10_000},
		{args: []string{"--backlog", "1000000"}, want: DefaultBaselineMax},
		{args: []string{"--backlog", "1000000", "--baseline-max", "50000"}, want: 50_000},
		{args: []string{"--backlog", "1000000", "--baseline-max", "-1"}, want: 1_000_000},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			if got := parseOptions(t, tc.args).withDefaults().baselineMessages(); got != tc.want {
				t.Fatalf("baseline of %d messages, want %d", got, tc.want)
			}
		})
	}
}
