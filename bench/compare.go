package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultCompareThreshold is the change, in percent, beyond which a figure
// that moved in its worse direction is flagged as a regression.
const DefaultCompareThreshold = 10.0

// Comparison sets the figures of a run against those of a previous report
// (`outbox bench --compare PREVIOUS.json`), so that a regression shows in
// one run.
type Comparison struct {
	// Previous is the previous report's path, PreviousStarted and
	// PreviousCommand what it says of itself (zero if it does not).
	Previous        string    `json:"previous"`
	PreviousStarted time.Time `json:"previous_started,omitzero"`
	PreviousCommand string    `json:"previous_command,omitempty"`
	// ThresholdPercent is the change beyond which a figure is flagged.
	ThresholdPercent float64 `json:"threshold_percent"`
	// SettingsDiffer lists the settings and machine facts that differ
	// between the runs ("backlog: 100000 → 1000000"): figures that depend
	// on them are not comparable as they stand.
	SettingsDiffer []string `json:"settings_differ,omitempty"`
	// Figures holds every figure present in either report; a figure
	// missing from one of them has no change.
	Figures []FigureChange `json:"figures"`
	// Regressions and Improvements count the figures flagged either way.
	Regressions  int `json:"regressions"`
	Improvements int `json:"improvements"`
}

// Verdicts of a [FigureChange].
const (
	VerdictRegression  = "regression"
	VerdictImprovement = "improvement"
	VerdictWithin      = "within threshold"
	// VerdictNA: the figure is missing from one report, or the previous
	// value is zero (no relative change).
	VerdictNA = "n/a"
)

// FigureChange is one figure of both runs.
type FigureChange struct {
	// Workload is steady, failover, backlog or baseline; Processor is
	// empty for the baseline.
	Workload  string `json:"workload"`
	Processor string `json:"processor,omitempty"`
	// Figure names it as the tables do ("p99", "x baseline"); Unit is
	// the unit of Previous, Current and Change.
	Figure string `json:"figure"`
	Unit   string `json:"unit"`
	// HigherIsWorse gives the figure's worse direction: up for latency,
	// CPU and memory, down for throughput and ratios to the baseline.
	HigherIsWorse bool `json:"higher_is_worse"`
	// RatioToBaseline marks a ratio to the same run's baseline: measured
	// side by side, it does not move with the machine's load as absolute
	// figures do, and is the figure to trust across runs.
	RatioToBaseline bool `json:"ratio_to_baseline,omitempty"`
	// Previous and Current are null where the report lacks the figure.
	Previous *float64 `json:"previous"`
	Current  *float64 `json:"current"`
	// Change is Current − Previous; ChangePercent relates it to
	// |Previous|. Both null when a side is missing (and the percentage
	// when Previous is zero).
	Change        *float64 `json:"change"`
	ChangePercent *float64 `json:"change_percent"`
	Verdict       string   `json:"verdict"`
}

// Units of figures.
const (
	unitMs      = "ms"
	unitSeconds = "s"
	unitPerSec  = "per s"
	unitRatio   = "ratio"
	unitCPU1k   = "CPU s per 1,000 events"
	unitBytes   = "bytes"
	unitCount   = "count"
)

// baselineRate names the baseline's rate to consumed, the figure every
// "x baseline" divides by.
const baselineRate = "msgs/s to consumed"

// figureSpec is one figure of a workload's result row, by its JSON key:
// reading the reports as JSON objects is what tells a figure an older
// report lacks from a zero.
type figureSpec struct {
	name, key, unit string
	higherIsWorse   bool
	ratio           bool
	// per1k divides the key's value by the row's events and multiplies
	// by 1,000 (a total made comparable across sizes).
	per1k bool
}

// workloadFigures are the compared figures of one workload.
type workloadFigures struct {
	workload string
	figures  []figureSpec
}

// compareWorkloads lists the compared figures of each workload, in table
// order.
func compareWorkloads() []workloadFigures {
	return []workloadFigures{
		{WorkloadSteady, []figureSpec{
			{name: "p50", key: "p50_ms", unit: unitMs, higherIsWorse: true},
			{name: "p99", key: "p99_ms", unit: unitMs, higherIsWorse: true},
			{name: "relay CPU s/1k", key: "cpu_seconds_per_1000", unit: unitCPU1k, higherIsWorse: true},
			{name: "relay peak RSS", key: "peak_rss_bytes", unit: unitBytes, higherIsWorse: true},
			{name: "startup", key: "startup_seconds", unit: unitSeconds, higherIsWorse: true},
		}},
		{WorkloadFailover, []figureSpec{
			{name: "gap", key: "gap_seconds", unit: unitSeconds, higherIsWorse: true},
			{name: "takeover", key: "takeover_seconds", unit: unitSeconds, higherIsWorse: true},
			{name: "p99", key: "p99_ms", unit: unitMs, higherIsWorse: true},
			{name: "extra p99", key: "extra_p99_ms", unit: unitMs, higherIsWorse: true},
			{name: "duplicates", key: "duplicates", unit: unitCount, higherIsWorse: true},
		}},
		{WorkloadBacklog, []figureSpec{
			{name: "events/s", key: "events_per_sec", unit: unitPerSec},
			{name: "x baseline", key: "ratio_to_baseline", unit: unitRatio, ratio: true},
			{name: "x producer", key: "ratio_to_producer", unit: unitRatio, ratio: true},
			{name: "relay CPU s/1k", key: "cpu_seconds_per_1000", unit: unitCPU1k, higherIsWorse: true},
			{name: "relay peak RSS", key: "peak_rss_bytes", unit: unitBytes, higherIsWorse: true},
			{name: "stack CPU s/1k", key: "stack_cpu_seconds", unit: unitCPU1k, higherIsWorse: true, per1k: true},
			{name: "startup", key: "startup_seconds", unit: unitSeconds, higherIsWorse: true},
		}},
		{"baseline", []figureSpec{
			{name: baselineRate, key: "msgs_per_sec", unit: unitPerSec},
			{name: "msgs/s to acknowledged", key: "producer_msgs_per_sec", unit: unitPerSec},
		}},
	}
}

// comparedSettings are the settings and machine facts (name, then path in
// the report) that, when they differ, make figures incomparable as they
// stand.
func comparedSettings() [][2]string {
	return [][2]string{
		{"machine cores", "machine.cores"},
		{"machine CPU", "machine.cpu_model"},
		{"Go", "machine.go_version"},
		{"stack", "settings.stack"},
		{"rate", "settings.rate"},
		{"duration ms", "settings.duration_ms"},
		{"backlog", "settings.backlog"},
		{"baseline messages", "baseline.messages"},
		{"events per order", "settings.events_per_order"},
		{"partitions", "settings.partitions"},
		{"consistency", "settings.relay.consistency"},
		{"max in flight", "settings.relay.max_in_flight"},
		{"producer linger ms", "settings.producer.linger_ms"},
		{"relay GOGC", "settings.relay.gogc"},
		{"poll interval ms", "settings.relay.polling.interval_ms"},
		{"poll batch", "settings.relay.polling.batch"},
		{"cdc confidence window ms", "settings.relay.cdc.confidence_window_ms"},
	}
}

// Compare sets current against previous, a JSON report of an earlier run
// (any version of the format: a figure it lacks is n/a). A change beyond
// thresholdPercent in a figure's worse direction is a regression.
func Compare(previous []byte, current Report, thresholdPercent float64) (*Comparison, error) {
	var prev map[string]any
	if err := json.Unmarshal(previous, &prev); err != nil {
		return nil, fmt.Errorf("bench: previous report: %w", err)
	}
	current.Comparison = nil
	raw, err := json.Marshal(current)
	if err != nil {
		return nil, fmt.Errorf("bench: current report: %w", err)
	}
	var cur map[string]any
	if err := json.Unmarshal(raw, &cur); err != nil {
		return nil, fmt.Errorf("bench: current report: %w", err)
	}
	c := &Comparison{ThresholdPercent: thresholdPercent}
	c.PreviousCommand, _ = lookup(prev, "settings.command").(string)
	if s, ok := lookup(prev, "started").(string); ok {
		c.PreviousStarted, _ = time.Parse(time.RFC3339Nano, s)
	}
	for _, s := range comparedSettings() {
		// A missing or zero value (a run without a baseline) is not a
		// difference of settings.
		p, q := plain(lookup(prev, s[1])), plain(lookup(cur, s[1]))
		if p != "" && q != "" && p != "0" && q != "0" && p != q {
			c.SettingsDiffer = append(c.SettingsDiffer, fmt.Sprintf("%s: %s → %s", s[0], p, q))
		}
	}
	for _, w := range compareWorkloads() {
		prevRows, curRows := resultRows(prev, w.workload), resultRows(cur, w.workload)
		for _, proc := range rowKeys(curRows, prevRows) {
			for _, f := range w.figures {
				fc := FigureChange{Workload: w.workload, Processor: proc, Figure: f.name, Unit: f.unit,
					HigherIsWorse: f.higherIsWorse, RatioToBaseline: f.ratio,
					Previous: f.value(prevRows[proc]), Current: f.value(curRows[proc])}
				if fc.Previous == nil && fc.Current == nil {
					continue
				}
				fc.judge(thresholdPercent)
				switch fc.Verdict {
				case VerdictRegression:
					c.Regressions++
				case VerdictImprovement:
					c.Improvements++
				}
				c.Figures = append(c.Figures, fc)
			}
		}
	}
	return c, nil
}

// judge sets the change and the verdict.
func (fc *FigureChange) judge(thresholdPercent float64) {
	fc.Verdict = VerdictNA
	if fc.Previous == nil || fc.Current == nil {
		return
	}
	d := *fc.Current - *fc.Previous
	fc.Change = &d
	if *fc.Previous == 0 {
		if d == 0 {
			fc.Verdict = VerdictWithin
		}
		return
	}
	pct := d / math.Abs(*fc.Previous) * 100
	fc.ChangePercent = &pct
	worse := pct
	if !fc.HigherIsWorse {
		worse = -pct
	}
	switch {
	case worse > thresholdPercent:
		fc.Verdict = VerdictRegression
	case worse < -thresholdPercent:
		fc.Verdict = VerdictImprovement
	default:
		fc.Verdict = VerdictWithin
	}
}

// value reads the figure from row; nil if row or the figure is missing.
func (f figureSpec) value(row map[string]any) *float64 {
	v, ok := row[f.key].(float64)
	if !ok {
		return nil
	}
	if f.per1k {
		n, ok := row["events"].(float64)
		if !ok || n <= 0 {
			return nil
		}
		v = v / n * 1000
	}
	return &v
}

// resultRows are a workload's result rows by processor; the baseline is
// one row, keyed "".
func resultRows(rep map[string]any, workload string) map[string]map[string]any {
	rows := map[string]map[string]any{}
	if workload == "baseline" {
		// An empty baseline (no backlog workload) has zero figures, not
		// missing ones; it is left out.
		if bl, ok := rep["baseline"].(map[string]any); ok {
			if n, _ := bl["messages"].(float64); n > 0 {
				rows[""] = bl
			}
		}
		return rows
	}
	list, _ := rep[workload].([]any)
	for _, x := range list {
		if row, ok := x.(map[string]any); ok {
			p, _ := row["processor"].(string)
			rows[p] = row
		}
	}
	return rows
}

// rowKeys lists the processors of cur, in their order, then those only
// prev has.
func rowKeys(cur, prev map[string]map[string]any) []string {
	var ks, rest []string
	for k := range cur {
		ks = append(ks, k)
	}
	for k := range prev {
		if _, ok := cur[k]; !ok {
			rest = append(rest, k)
		}
	}
	slices.SortFunc(ks, func(a, b string) int {
		if r := processorRank(a) - processorRank(b); r != 0 {
			return r
		}
		return strings.Compare(a, b)
	})
	slices.Sort(rest)
	return append(ks, rest...)
}

// processorRank orders cdc before polling, as the runs do.
func processorRank(p string) int {
	switch p {
	case "cdc":
		return 0
	case "polling":
		return 1
	default:
		return 2
	}
}

// plain renders a JSON value, numbers without exponents; "" for nil.
func plain(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}

// lookup follows a dotted path of object keys; nil if any is missing.
func lookup(m map[string]any, path string) any {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		o, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		if v, ok = o[k]; !ok {
			return nil
		}
	}
	return v
}

// writeComparison renders c after the run's own tables.
func writeComparison(b *strings.Builder, c *Comparison) error {
	fmt.Fprintf(b, "\nComparison with %s", c.Previous)
	if !c.PreviousStarted.IsZero() {
		fmt.Fprintf(b, " (run %s", c.PreviousStarted.UTC().Format("2006-01-02 15:04 MST"))
		if c.PreviousCommand != "" {
			fmt.Fprintf(b, ": %s", c.PreviousCommand)
		}
		fmt.Fprint(b, ")")
	}
	fmt.Fprintf(b, "; a change beyond ±%g%% in a figure's worse direction is a REGRESSION\n", c.ThresholdPercent)
	for _, s := range c.SettingsDiffer {
		fmt.Fprintf(b, "  settings differ: %s\n", s)
	}
	var rows strings.Builder
	fmt.Fprintln(&rows, "  workload\tprocessor\tfigure\tworse\tprevious\tcurrent\tchange\tchange %\tverdict\t")
	for _, f := range c.Figures {
		name, worse := f.Figure, "up"
		if f.RatioToBaseline {
			name += " *"
		}
		if !f.HigherIsWorse {
			worse = "down"
		}
		verdict := f.Verdict
		switch verdict {
		case VerdictRegression:
			verdict = "REGRESSION"
		case VerdictWithin:
			verdict = ""
		}
		proc := f.Processor
		if proc == "" {
			proc = "-"
		}
		fmt.Fprintf(&rows, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", f.Workload, proc, name, worse,
			formatFigure(f.Unit, f.Previous, false), formatFigure(f.Unit, f.Current, false),
			formatFigure(f.Unit, f.Change, true), formatPercent(f.ChangePercent), verdict)
	}
	if err := writeTable(b, rows.String(), 0); err != nil {
		return err
	}
	fmt.Fprintln(b, "  * a ratio to the same run's raw-producer baseline: both measured side by side, so the machine's load cancels out;")
	fmt.Fprintln(b, "    machines (and shared ones most) are noisy, absolute figures move with their load: trust the ratios across runs")
	for _, f := range c.Figures {
		if f.Workload == "baseline" && f.Figure == baselineRate && f.Verdict != VerdictWithin && f.ChangePercent != nil {
			fmt.Fprintf(b, "  the baseline itself moved %s: the machine was busier or idler than in the previous run, and absolute figures moved with it\n",
				formatPercent(f.ChangePercent))
		}
	}
	fmt.Fprintf(b, "  %d regressions, %d improvements beyond ±%g%%\n", c.Regressions, c.Improvements, c.ThresholdPercent)
	return nil
}

// formatPercent renders a signed percentage; "n/a" for nil.
func formatPercent(p *float64) string {
	if p == nil {
		return "n/a"
	}
	return fmt.Sprintf("%+.1f%%", *p)
}

// formatFigure renders v in unit, signed for a change; "n/a" for nil.
func formatFigure(unit string, v *float64, signed bool) string {
	if v == nil {
		return "n/a"
	}
	x := *v
	sign := ""
	if signed && x >= 0 {
		sign = "+"
	}
	switch unit {
	case unitMs:
		return sign + Duration(x*float64(time.Millisecond)).String()
	case unitSeconds:
		return fmt.Sprintf("%s%.2fs", sign, x)
	case unitPerSec:
		return fmt.Sprintf("%s%.0f/s", sign, x)
	case unitRatio:
		return fmt.Sprintf("%s%.2f", sign, x)
	case unitCPU1k:
		return fmt.Sprintf("%s%.3f", sign, x)
	case unitBytes:
		return sign + mib(int64(x))
	default:
		return fmt.Sprintf("%s%.0f", sign, x)
	}
}
