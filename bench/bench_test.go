package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
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

// A tiny run of both workloads on both processors: the report is
// complete and consistent, every event arrived once and in order, and the
// JSON and SVG files are well-formed.
func TestRunTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded stack and four relay processes")
	}
	dir := t.TempDir()
	var table bytes.Buffer
	o := Options{
		Rate: 200, Duration: 2 * time.Second, Backlog: 1000,
		RelayCommand: testRelayCommand,
		JSONPath:     filepath.Join(dir, "report.json"),
		SVGPath:      filepath.Join(dir, "latency.svg"),
		Out:          &table,
		Progress:     testWriter{t},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + table.String())

	if rep.Machine.Cores < 1 || rep.Machine.GoVersion == "" || rep.Settings.Relay.MaxInFlight == 0 {
		t.Fatalf("machine or settings missing: %+v %+v", rep.Machine, rep.Settings)
	}
	if len(rep.Steady) != 2 || len(rep.Backlog) != 2 {
		t.Fatalf("want 2 steady and 2 backlog results, got %d and %d", len(rep.Steady), len(rep.Backlog))
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
	if b := rep.Baseline; b.Messages != 1000 || b.MsgsPerSec <= 0 || b.ProducerMsgsPerSec <= 0 || b.Bytes <= 0 {
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
	for _, want := range []string{"Steady", "Backlog", "Baseline", "Targets"} {
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
		Keyspace: "ks", Topic: "t.1", StartFrom: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), CPUProfile: "/tmp/p"}.withDefaults()
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
