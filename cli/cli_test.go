package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/scylladb/gocqlx/v2"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/scylla-outbox/scylla-outbox/app"
	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/internal/outboxtest"
	"github.com/scylla-outbox/scylla-outbox/messaging"
	"github.com/scylla-outbox/scylla-outbox/messaging/kafkaemu"
	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu"
	"github.com/scylla-outbox/scylla-outbox/storage"
)

// syncBuf is an output sink safe for the command's goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testEnv(vars map[string]string) (Env, *syncBuf, *syncBuf) {
	out, errOut := &syncBuf{}, &syncBuf{}
	var environ []string
	for k, v := range vars {
		environ = append(environ, k+"="+v)
	}
	return Env{Stdout: out, Stderr: errOut, Getenv: func(k string) string { return vars[k] }, Environ: environ}, out, errOut
}

// Bad configuration exits non-zero with one clear line naming the setting.
func TestBadConfigurationExitsWithOneLine(t *testing.T) {
	dir := t.TempDir()
	unreachable := outboxtest.FreeAddr(t)
	badYAML := filepath.Join(dir, "bad.yaml")
	unknownKey := filepath.Join(dir, "unknown.yaml")
	for path, yaml := range map[string]string{
		badYAML:    "processor: cdc\ncdc:\n  confidence_window: [1, 2\n",
		unknownKey: "relay:\n  max_in_flihgt: 5\n",
	} {
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		code    int
		setting string
	}{
		{"unknown processor", []string{"relay", "--processor", "magic"}, nil, ExitUsage, "processor"},
		{"negative window", []string{"relay", "--cdc.confidence-window", "-1s"}, nil, ExitUsage, "cdc.confidence_window"},
		{"negative window from env", []string{"relay"}, map[string]string{"OUTBOX_POLLING_SAFETY_WINDOW": "-5s"}, ExitUsage, "polling.safety_window"},
		{"bad YAML", []string{"relay", "--config", badYAML}, nil, ExitUsage, "bad.yaml line"},
		{"unknown YAML key", []string{"relay", "--config", unknownKey}, nil, ExitUsage, "max_in_flihgt"},
		{"bad port", []string{"relay", "--scylla-hosts", "127.0.0.1:99999"}, nil, ExitUsage, "scylla.hosts"},
		{"unknown flag", []string{"relay", "--proccessor", "cdc"}, nil, ExitUsage, "--proccessor"},
		// The flag package takes a boolean's value only as --flag=value:
		// `--flag false` sets it true and leaves "false" as an argument.
		{"bool setting with a separate value", []string{"relay", "--scylla.tls.insecure-skip-verify", "false"}, nil, ExitUsage,
			`outbox relay: unexpected argument "false" after --scylla.tls.insecure-skip-verify: a boolean flag takes its value as --scylla.tls.insecure-skip-verify=false`},
		{"bool setting with a separate value, migrate", []string{"migrate", "--schema.tablets", "false"}, nil, ExitUsage, "--schema.tablets=false"},
		{"own bool flag with a separate value", []string{"relay", "--print-config", "false"}, nil, ExitUsage, "--print-config=false"},
		{"bool flag with a separate value, cql", []string{"cql", "--schema.tablets", "false", "SELECT * FROM system.local"}, nil, ExitUsage, "--schema.tablets=false"},
		{"bool flag with a separate value, dlq", []string{"dlq", "discard", "--dry-run", "false"}, nil, ExitUsage, "--dry-run=false"},
		{"list given as two arguments", []string{"relay", "--scylla-hosts", "h1", "h2"}, nil, ExitUsage, `unexpected argument "h2"`},
		{"relay with an argument", []string{"relay", "extra-arg"}, nil, ExitUsage, `outbox relay: unexpected argument "extra-arg"`},
		{"migrate with an argument", []string{"migrate", "extra-arg"}, nil, ExitUsage, `outbox migrate: unexpected argument "extra-arg"`},
		{"demo with an argument", []string{"demo", "--orders", "1", "extra-arg"}, nil, ExitUsage, `outbox demo: unexpected argument "extra-arg"`},
		{"dev with an argument", []string{"dev", "--cql-listen", "127.0.0.1:0", "--kafka-listen", "127.0.0.1:0", "extra-arg"}, nil, ExitUsage, `outbox dev: unexpected argument "extra-arg"`},
		{"dlq list with an argument", []string{"dlq", "list", "extra-arg"}, nil, ExitUsage, `unexpected argument "extra-arg"`},
		{"unknown dlq kind", []string{"dlq", "list", "--kind", "poison"}, nil, ExitUsage, `--kind: "poison" is not a kind (want permanent, exhausted, held, malformed)`},
		{"unknown dlq kind, discard", []string{"dlq", "discard", "--kind", "Held"}, nil, ExitUsage, `--kind: "Held"`},
		// Discarding the whole queue takes --all: a command line to fix,
		// told without reaching a database.
		{"discard without a selection", []string{"dlq", "discard"}, nil, ExitUsage,
			"outbox dlq: discard: nothing selected: give event ids or a filter, or pass --all"},
		{"dry-run discard without a selection", []string{"dlq", "discard", "--dry-run"}, nil, ExitUsage, "or pass --all"},
		// A flag of another dlq subcommand is named as such, wherever it
		// stands; the values of the subcommand's own flags are skipped.
		{"dlq list with replay and discard flags", []string{"dlq", "list", "--dry-run", "--all", "--max-replays", "9"}, nil, ExitUsage,
			"outbox dlq: --dry-run: outbox dlq list does not take it (see outbox dlq list --help)"},
		{"dlq show with --format", []string{"dlq", "show", "--format", "json", "0c6e8b0e-4b1f-4a57-9d43-6e1c2a4f5d01"}, nil, ExitUsage,
			"--format: outbox dlq show does not take it"},
		{"dlq show with --format after the id", []string{"dlq", "show", "0c6e8b0e-4b1f-4a57-9d43-6e1c2a4f5d01", "--format=json"}, nil, ExitUsage,
			"--format: outbox dlq show does not take it"},
		{"dlq replay with --all", []string{"dlq", "replay", "--kind", "held", "--all"}, nil, ExitUsage, "--all: outbox dlq replay does not take it"},
		{"dlq replay with --format after values", []string{"dlq", "replay", "--since", "2025-01-01T00:00:00Z", "--dry-run", "--format", "json"}, nil, ExitUsage,
			"--format: outbox dlq replay does not take it"},
		{"dlq discard with --max-replays", []string{"dlq", "discard", "--scylla.consistency", "ONE", "--max-replays=5"}, nil, ExitUsage,
			"--max-replays: outbox dlq discard does not take it"},
		{"unknown dlq flag", []string{"dlq", "list", "--dry-rn"}, nil, ExitUsage, "unknown flag --dry-rn"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A command line accepted by mistake must not reach a cluster
			// on the default ports (another stack on this machine).
			vars := map[string]string{"OUTBOX_SCYLLA_HOSTS": unreachable, "OUTBOX_KAFKA_BROKERS": unreachable, "OUTBOX_HTTP_LISTEN": ""}
			for k, v := range tc.env {
				vars[k] = v
			}
			env, _, errOut := testEnv(vars)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			code := Run(ctx, env, tc.args)
			lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
			if code != tc.code || len(lines) != 1 || !strings.Contains(lines[0], tc.setting) {
				t.Fatalf("exit %d (want %d), stderr:\n%s\nwant one line naming %q", code, tc.code, errOut.String(), tc.setting)
			}
		})
	}
}

func TestPrintConfigMasksSecrets(t *testing.T) {
	env, out, _ := testEnv(map[string]string{"OUTBOX_SCYLLA_PASSWORD": "hunter2", "OUTBOX_SCYLLA_USERNAME": "app"})
	if code := Run(context.Background(), env, []string{"relay", "--print-config", "--processor", "polling"}); code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	if strings.Contains(out.String(), "hunter2") || !strings.Contains(out.String(), "processor: polling") {
		t.Fatalf("print-config output:\n%s", out.String())
	}
}

// --print-config shows, beside a zero that the relay resolves at start,
// what it becomes: the profile's value, or the component's default.
func TestPrintConfigShowsWhatZerosBecome(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		want, not []string
	}{
		{"default profile", nil,
			[]string{"confidence_window: 0s # at start: 30s\n", "post_non_empty_query_delay: 0s # at start: 10s\n",
				"progress_ttl: 0s # at start: 168h0m0s\n", `member: "" # at start: <hostname>:<pid> of the relay` + "\n"},
			nil},
		{"low-latency profile, one window set", []string{"--cdc.profile", "low-latency", "--cdc.query-window", "2s", "--relay.member", "m1"},
			[]string{"confidence_window: 0s # at start: 10ms\n", "post_empty_query_delay: 0s # at start: 50ms\n", "query_window: 2s\n", "member: m1\n"},
			[]string{"query_window: 2s #", "member: m1 #"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, out, errOut := testEnv(nil)
			if code := Run(context.Background(), env, append([]string{"relay", "--print-config"}, tc.args...)); code != ExitOK {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			checkOutput(t, "print-config", out.String(), tc.want, tc.not)
		})
	}
}

// failingWriter refuses every write, as a full disk or a closed pipe does.
type failingWriter struct{}

var errDiskFull = errors.New("no space left on device")

func (failingWriter) Write([]byte) (int, error) { return 0, errDiskFull }

// Output that could not be written fails the command, once, on stderr;
// it is never reported as success.
func TestLostOutputFailsTheCommand(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"print-config", []string{"relay", "--print-config"}},
		{"subcommand help", []string{"migrate", "--help"}},
		{"usage", []string{"--help"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, _, errOut := testEnv(nil)
			env.Stdout = failingWriter{}
			if code := Run(context.Background(), env, tt.args); code != ExitFailure {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, ExitFailure, errOut)
			}
			if got := strings.Count(errOut.String(), errDiskFull.Error()); got != 1 {
				t.Fatalf("stderr names the write error %d times, want once:\n%s", got, errOut)
			}
		})
	}
}

// decodeBody reads and closes an HTTP response's JSON body.
func decodeBody(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	var doc map[string]any
	err := json.NewDecoder(resp.Body).Decode(&doc)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("response body: %v", err)
	}
	return doc
}

// waitFor polls the command's stdout for a pattern and returns its first
// submatch.
func waitFor(t *testing.T, out *syncBuf, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %q in output:\n%s", re, out.String())
	return ""
}

// `outbox dev` driven through its HTTP API; the events are read back with
// a Kafka client.
func TestDevHTTPAPIEventsReachKafka(t *testing.T) {
	env, out, errOut := testEnv(nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, env, []string{"dev", "--cql-listen", "127.0.0.1:0", "--kafka-listen", "127.0.0.1:0", "--http.listen", "127.0.0.1:0", "--log.level", "warn"})
	}()
	defer func() {
		cancel()
		if code := <-done; code != ExitOK {
			t.Errorf("dev exited %d: %s", code, errOut.String())
		}
	}()
	httpAddr := waitFor(t, out, regexp.MustCompile(`http:\s+http://(\S+)`))
	kafkaAddr := waitFor(t, out, regexp.MustCompile(`kafka:\s+(\S+)`))

	call := func(method, path, body string, want int) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+httpAddr+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		doc := decodeBody(t, resp)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %v, want %d", method, path, resp.StatusCode, doc, want)
		}
		return doc
	}
	item := `{"items":[{"product_id":"sku-1","quantity":2,"unit_price_minor":450,"currency":"EUR"}]`
	created := call("POST", "/orders", item+`,"customer_id":"`+uuid.NewString()+`"}`, http.StatusCreated)
	id := created["id"].(string)
	call("PUT", "/orders/"+id, `{"items":[{"product_id":"sku-1","quantity":3,"unit_price_minor":450,"currency":"EUR"}]}`, http.StatusOK)
	call("POST", "/orders/"+id+"/cancel", `{"reason":"changed my mind"}`, http.StatusOK)
	call("PUT", "/orders/"+id, item+`}`, http.StatusConflict) // cancelled
	call("POST", "/orders", `{"items":[]}`, http.StatusUnprocessableEntity)
	got := call("GET", "/orders/"+id, "", http.StatusOK)
	if got["status"] != "cancelled" || got["version"].(float64) != 3 {
		t.Fatalf("order: %v", got)
	}
	call("GET", "/healthz", "", http.StatusOK)

	cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer ccancel()
	var seqs []string
	if err := messaging.Consume(cctx, []string{kafkaAddr}, []string{"outbox.event.Order"}, func(m messaging.Message) error {
		if m.Headers[messaging.HeaderAggregateID] == id {
			seqs = append(seqs, m.Headers[messaging.HeaderEventType]+"#"+m.Headers[messaging.HeaderSequence])
			if len(seqs) == 3 {
				ccancel()
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(seqs, ",") != "OrderCreated#1,OrderUpdated#2,OrderCancelled#3" {
		t.Fatalf("events in Kafka: %v", seqs)
	}
	status := call("GET", "/status", "", http.StatusOK)
	if status["processor"] != "cdc" || status["dlq_size"].(float64) != 0 {
		t.Fatalf("status: %v", status)
	}
	call("GET", "/readyz", "", http.StatusOK)
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := io.ReadAll(resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(metrics, []byte(`outbox_events_published_total{event_type="OrderCreated",processor="cdc"}`)) {
		t.Fatalf("metrics lack the published counter:\n%s", metrics)
	}
}

// A dead-lettered event (its topic did not exist) reaches Kafka through
// `outbox dlq replay` once the cause is fixed.
func TestDLQReplayAfterTheCauseIsFixed(t *testing.T) {
	ctx := context.Background()
	db, broker := startStack(t)
	common := []string{"--scylla-hosts", db.Addr(), "--kafka-brokers", broker.Addr(), "--scylla.consistency", "ONE", "--log.level", "warn"}
	env, out, errOut := testEnv(nil)
	if code := Run(ctx, env, append([]string{"migrate"}, common...)); code != ExitOK {
		t.Fatalf("migrate: %d %s", code, errOut.String())
	}
	// Route events to a per-type topic that does not exist yet: the broker
	// rejects them, which is permanent, so they go to the DLQ.
	relayArgs := append([]string{"relay", "--kafka.topic-template", "orders.{{.EventType}}", "--cdc.profile", "low-latency", "--http.listen", ""}, common...)
	rctx, stopRelay := context.WithCancel(ctx)
	relayDone := make(chan int, 1)
	renv, _, rerr := testEnv(nil)
	go func() { relayDone <- Run(rctx, renv, relayArgs) }()

	s, err := storage.NewSession(ctx, storage.Config{Hosts: []string{db.Addr()}, Keyspace: "outbox", Consistency: "ONE"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	writeOneOrder(t, s)
	dlq := storage.NewDeadLetterStore(s, "outbox")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if n, _ := dlq.Count(ctx); n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no DLQ entry; relay stderr:\n%s", rerr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	stopRelay()
	if code := <-relayDone; code != ExitOK {
		t.Fatalf("relay exit %d: %s", code, rerr.String())
	}

	out.b.Reset()
	if code := Run(ctx, env, append([]string{"dlq", "list"}, common...)); code != ExitOK || !strings.Contains(out.String(), "OrderCreated") {
		t.Fatalf("dlq list: %d\n%s%s", code, out.String(), errOut.String())
	}
	// The table shows the broker's answer, not the publisher's prefix.
	if table := out.String(); !strings.Contains(table, "does not exist on this broker") || strings.Contains(table, "messaging: publish event") {
		t.Errorf("dlq list should show the cause of the failure:\n%s", table)
	}
	// Fix the cause, then replay through the same publisher configuration.
	if err := broker.CreateTopic("orders.OrderCreated", 3, nil); err != nil {
		t.Fatal(err)
	}
	replay := append([]string{"dlq", "replay", "--kafka.topic-template", "orders.{{.EventType}}"}, common...)
	out.b.Reset()
	if code := Run(ctx, env, append(replay, "--dry-run")); code != ExitOK ||
		!strings.HasSuffix(out.String(), "\ndry run: 1 selected: would publish 1 to orders.OrderCreated, skipped 0, failed 0, blocked 0; nothing changed\n") {
		t.Fatalf("dlq replay --dry-run: %d\n%s%s", code, out.String(), errOut.String())
	}
	if code := Run(ctx, env, replay); code != ExitOK {
		t.Fatalf("dlq replay: %d\n%s%s", code, out.String(), errOut.String())
	}
	if n, _ := dlq.Count(ctx); n != 0 {
		t.Fatalf("DLQ still has %d entries after an acknowledged replay", n)
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var got []messaging.Message
	if err := messaging.Consume(cctx, broker.Brokers(), []string{"orders.OrderCreated"}, func(m messaging.Message) error {
		got = append(got, m)
		cancel()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Headers[messaging.HeaderEventType] != "OrderCreated" || got[0].Headers[messaging.HeaderSequence] != "1" {
		t.Fatalf("replayed record: %+v", got)
	}
}

func writeOneOrder(t *testing.T, s gocqlx.Session) {
	t.Helper()
	items := []domain.Item{{ProductID: "sku-1", Quantity: 1, UnitPrice: domain.Money{Minor: 100, Currency: "EUR"}}}
	o, ev, err := domain.NewOrder(uuid.New(), uuid.New(), items, time.Now(), domain.NewUUIDv7Generator())
	if err != nil {
		t.Fatal(err)
	}
	if err := storage.NewOrderStore(s, storage.OrderStoreOptions{Keyspace: "outbox"}).Save(context.Background(), o, ev); err != nil {
		t.Fatal(err)
	}
}

// TestMain lets a test run this binary as the `outbox` command in a child
// process, to send it real signals.
func TestMain(m *testing.M) {
	if args := os.Getenv("CLI_TEST_CHILD_ARGS"); args != "" {
		ctx, stop := SignalContext()
		code := Run(ctx, OSEnv(), strings.Split(args, "\x1f"))
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// relayChild runs `outbox relay args...` as a child process (to send it
// real signals) and returns it with its stderr (the log) and a channel that
// receives its exit error.
func relayChild(t *testing.T, args []string) (*exec.Cmd, *syncBuf, <-chan error) {
	t.Helper()
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "CLI_TEST_CHILD_ARGS="+strings.Join(append([]string{"relay"}, args...), "\x1f"))
	stderr := &syncBuf{}
	child.Stderr = stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	waited := make(chan struct{})
	go func() {
		exited <- child.Wait()
		close(waited)
	}()
	t.Cleanup(func() {
		// The child may have exited already; the kill is only a backstop.
		if err := child.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Errorf("kill the relay: %v", err)
		}
		<-waited
	})
	return child, stderr, exited
}

var httpListening = regexp.MustCompile(`http listening\s+\{"addr": "([^"]+)"`)

// getJSON fetches an HTTP endpoint of the relay.
func getJSON(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, decodeBody(t, resp)
}

// `outbox relay` stops gracefully on SIGTERM: intake stops, in-flight
// events finish, progress is saved, and it exits 0. The orders' events are
// held in flight at the broker when the signal arrives, so it is the drain
// that publishes them: every one of them must be in Kafka afterwards.
func TestRelayStopsGracefullyOnSIGTERM(t *testing.T) {
	ctx := context.Background()
	db, broker := startStack(t)
	common := []string{"--scylla-hosts", db.Addr(), "--kafka-brokers", broker.Addr(), "--scylla.consistency", "ONE"}
	env, _, errOut := testEnv(nil)
	if code := Run(ctx, env, append([]string{"migrate"}, common...)); code != ExitOK {
		t.Fatalf("migrate: %s", errOut.String())
	}
	child, stderr, exited := relayChild(t, append([]string{"--cdc.profile", "low-latency", "--http.listen", "127.0.0.1:0"}, common...))
	httpAddr := waitFor(t, stderr, httpListening)
	waitFor(t, stderr, regexp.MustCompile(`(relay running)`))

	// Hold every produce request at the broker until released.
	release := make(chan struct{})
	released := false
	releaseOnce := func() {
		if !released {
			released = true
			close(release)
		}
	}
	defer releaseOnce()
	c := broker.Cluster()
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		c.SleepControl(func() { <-release })
		return nil, nil, false
	})

	s, err := storage.NewSession(ctx, storage.Config{Hosts: []string{db.Addr()}, Keyspace: "outbox", Consistency: "ONE"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := map[string][]string{} // aggregate id → its event ids in sequence order
	total := 0
	for i := 0; i < 3; i++ {
		agg, ids := writeOrder(t, s, 3)
		want[agg] = ids
		total += len(ids)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, st := getJSON(t, "http://"+httpAddr+"/status")
		if n, _ := st["in_flight"].(float64); int(n) == total {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %v: the relay did not read the %d events\n%s", st, total, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	if err := child.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, stderr, regexp.MustCompile(`(shutting down)`))
	releaseOnce()
	if err := <-exited; err != nil {
		t.Fatalf("relay exit: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "shutdown complete") {
		t.Fatalf("no %q in the relay's log:\n%s", "shutdown complete", stderr.String())
	}

	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	got := map[string][]string{}
	n := 0
	if err := messaging.Consume(cctx, broker.Brokers(), []string{"outbox.event.Order"}, func(m messaging.Message) error {
		agg := m.Headers[messaging.HeaderAggregateID]
		got[agg] = append(got[agg], m.Headers[messaging.HeaderEventID])
		if n++; n == total {
			time.AfterFunc(300*time.Millisecond, cancel) // and a little longer, to see duplicates
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for agg, ids := range want {
		if strings.Join(got[agg], ",") != strings.Join(ids, ",") {
			t.Errorf("order %s: events %v in Kafka, want %v", agg, got[agg], ids)
		}
	}
}

// `outbox relay` whose ScyllaDB and Kafka do not answer keeps running and
// reports not ready, naming both, instead of exiting; SIGTERM stops it
// cleanly.
func TestRelayWithUnreachableHostsKeepsRunning(t *testing.T) {
	free := []string{outboxtest.FreeAddr(t), outboxtest.FreeAddr(t)}
	child, stderr, exited := relayChild(t, []string{"--scylla-hosts", free[0], "--kafka-brokers", free[1],
		"--scylla.connect-timeout", "300ms", "--kafka.timeout", "300ms", "--http.listen", "127.0.0.1:0"})
	httpAddr := waitFor(t, stderr, httpListening)
	waitFor(t, stderr, regexp.MustCompile(`(relay waiting for ScyllaDB)`))
	code, doc := getJSON(t, "http://"+httpAddr+"/readyz")
	failures, _ := doc["failures"].(map[string]any)
	if code != http.StatusServiceUnavailable || failures["scylla"] == nil || failures["kafka"] == nil {
		t.Fatalf("/readyz: %d %v, want 503 naming scylla and kafka", code, doc)
	}
	if code, doc := getJSON(t, "http://"+httpAddr+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz: %d %v", code, doc)
	}
	select {
	case err := <-exited:
		t.Fatalf("the relay exited (%v) although only its dependencies are down:\n%s", err, stderr.String())
	default:
	}
	if err := child.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		t.Fatalf("relay exit after SIGTERM: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "shutdown complete") {
		t.Fatalf("no %q in the relay's log:\n%s", "shutdown complete", stderr.String())
	}
}

// writeOrder saves an order with events events (created, then updates),
// one batch per change, and returns its id and event ids in order.
func writeOrder(t *testing.T, s gocqlx.Session, events int) (string, []string) {
	t.Helper()
	items := []domain.Item{{ProductID: "sku-1", Quantity: 1, UnitPrice: domain.Money{Minor: 100, Currency: "EUR"}}}
	gen := domain.NewUUIDv7Generator()
	o, ev, err := domain.NewOrder(uuid.New(), uuid.New(), items, time.Now(), gen)
	if err != nil {
		t.Fatal(err)
	}
	store := storage.NewOrderStore(s, storage.OrderStoreOptions{Keyspace: "outbox"})
	var ids []string
	var e domain.DomainEvent = ev
	for i := 0; i < events; i++ {
		if i > 0 {
			if e, err = o.UpdateItems(items, time.Now(), gen); err != nil {
				t.Fatal(err)
			}
		}
		if err := store.Save(context.Background(), o, e); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.EventID().String())
	}
	return o.ID().String(), ids
}

func TestCQLPrintsRowsAsATable(t *testing.T) {
	db := outboxtest.StartDB(t, outboxtest.WithoutSchema())
	env, out, errOut := testEnv(nil)
	hosts := []string{"--scylla-hosts", db.Addr, "--scylla.consistency", "ONE"}
	ctx := context.Background()
	for _, stmt := range []string{
		`CREATE KEYSPACE k WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
		`CREATE TABLE k.t (id int PRIMARY KEY, name text, data blob)`,
		`INSERT INTO k.t (id, name, data) VALUES (1, 'first', 0xcafe)`,
	} {
		if code := Run(ctx, env, append([]string{"cql", stmt}, hosts...)); code != ExitOK {
			t.Fatalf("%s: %d %s", stmt, code, errOut.String())
		}
	}
	out.mu.Lock()
	out.b.Reset()
	out.mu.Unlock()
	if code := Run(ctx, env, append([]string{"cql", "SELECT id, name, data FROM k.t"}, hosts...)); code != ExitOK {
		t.Fatalf("select: %d %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "id") || !strings.Contains(lines[1], "first") ||
		!strings.Contains(lines[1], "0xcafe") || lines[2] != "(1 rows)" {
		t.Fatalf("table:\n%s", out.String())
	}
	if code := Run(ctx, env, append([]string{"cql", "SELEC nonsense"}, hosts...)); code != ExitFailure || !strings.Contains(errOut.String(), "line 1") {
		t.Fatalf("a bad statement must fail with the server's message: %d %s", code, errOut.String())
	}
}

// startStack starts the embedded stack (CQL emulator and Kafka broker with
// the Order topic) for one test.
func startStack(t *testing.T) (*scyllaemu.Server, *kafkaemu.Broker) {
	t.Helper()
	emb, err := app.StartEmbedded(context.Background(), app.EmbeddedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := emb.Close(); err != nil {
			t.Errorf("close the embedded stack: %v", err)
		}
	})
	return emb.DB, emb.Broker
}

// A malformed entry (a row the relay could not decode) is listed with
// --kind malformed, shown with its raw columns, refused by replay and
// removed by discard.
func TestDlqMalformedEntries(t *testing.T) {
	ctx := context.Background()
	db, broker := startStack(t)
	common := []string{"--scylla-hosts", db.Addr(), "--kafka-brokers", broker.Addr(), "--scylla.consistency", "ONE", "--log.level", "warn"}
	env, out, errOut := testEnv(nil)
	if code := Run(ctx, env, append([]string{"migrate"}, common...)); code != ExitOK {
		t.Fatalf("migrate: %d %s", code, errOut.String())
	}
	s, err := storage.NewSession(ctx, storage.Config{Hosts: []string{db.Addr()}, Keyspace: "outbox", Consistency: "ONE"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dlq := storage.NewDeadLetterStore(s, "outbox")
	id := uuid.New()
	err = dlq.Put(ctx, storage.DeadLetter{
		Record:    outbox.Record{Envelope: domain.Envelope{EventID: id}},
		Error:     "relay: outbox row has no aggregate_id",
		ErrorKind: storage.KindMalformed, FailureCount: 1, FirstFailureAt: time.Now(), LastFailureAt: time.Now(), Processor: "polling",
		Raw: map[string]string{"aggregate_id": "null", "sequence": "3"},
	})
	if err != nil {
		t.Fatal(err)
	}

	// Flags come before event ids: the first positional argument ends them.
	tests := []struct {
		name  string
		args  []string
		ids   []string
		code  int
		wants []string
	}{
		{"list", []string{"dlq", "list", "--kind", "malformed"}, nil, ExitOK, []string{id.String(), " malformed ", "\n(1 entry)\n"}},
		{"list other kind", []string{"dlq", "list", "--kind", "permanent"}, nil, ExitOK, []string{"\n(0 entries)\n"}},
		{"show", []string{"dlq", "show"}, []string{id.String()}, ExitOK, []string{"raw columns (2, as the relay read them):", "  aggregate_id  null", "  sequence      3"}},
		// Nothing was published: the command failed, and its summary
		// says why.
		{"replay", []string{"dlq", "replay"}, []string{id.String()}, ExitFailure, []string{"refused  " + id.String() + " (malformed, no aggregate id): cannot be replayed",
			"\nreplay: 1 selected: published 0, skipped 0, failed 0, blocked 0, malformed 1 (not replayable); 1 not published (malformed 1)\n"}},
		{"replay dry run", []string{"dlq", "replay", "--dry-run"}, []string{id.String()}, ExitFailure, []string{"would leave 1 not published (malformed 1); nothing changed\n"}},
		{"discard", []string{"dlq", "discard", "--kind", "malformed"}, nil, ExitOK, []string{"discarded " + id.String(), "discarded 1 entry\n"}},
	}
	for _, tc := range tests {
		out.b.Reset()
		errOut.b.Reset()
		args := append(append(tc.args, common...), tc.ids...)
		if code := Run(ctx, env, args); code != tc.code {
			t.Fatalf("%s: exit %d, want %d\n%s%s", tc.name, code, tc.code, out.String(), errOut.String())
		}
		for _, w := range tc.wants {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: output lacks %q:\n%s", tc.name, w, out.String())
			}
		}
	}
	if n, err := dlq.Count(ctx); err != nil || n != 0 {
		t.Errorf("after discard: %d entries, %v", n, err)
	}
}

// Every subcommand's --help prints its usage on stdout and exits 0, as the
// top-level help does.
func TestHelpExitsZero(t *testing.T) {
	tests := [][]string{{"--help"}, {"help"}, {"dlq", "-h"}, {"dlq", "help"}, {"dlq", "list", "--help"}, {"dlq", "show", "--help"}}
	for _, c := range commands() {
		tests = append(tests, []string{c.name, "--help"})
	}
	for _, args := range tests {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			env, out, errOut := testEnv(nil)
			code := Run(context.Background(), env, args)
			if code != ExitOK || !strings.Contains(out.String(), "Usage: outbox ") || errOut.String() != "" {
				t.Fatalf("exit %d (want 0), stdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
			}
		})
	}
}

// Each dlq subcommand's help lists its own flags only, booleans without a
// default of false; `outbox dlq --help` lists the subcommands.
func TestDLQHelpPerSubcommand(t *testing.T) {
	tests := []struct {
		args        []string
		wants, nots []string
	}{
		{[]string{"dlq", "--help"}, []string{"Usage: outbox dlq list|show|replay|discard", "  show EVENT_ID ", "  discard [EVENT_ID...] ", "outbox dlq SUBCOMMAND --help"}, []string{"--dry-run"}},
		{[]string{"dlq", "list", "--help"}, []string{"Usage: outbox dlq list [flags]\n", "  --format ", "  --kind ", "  --since "}, []string{"--dry-run", "--all", "--max-replays"}},
		{[]string{"dlq", "show", "--help"}, []string{"Usage: outbox dlq show [flags] EVENT_ID\n"}, []string{"dlq show flags:", "--format", "--kind", "--dry-run"}},
		{[]string{"dlq", "replay", "--help"}, []string{"  --dry-run          show what would happen, change nothing\n", "  --max-replays      refuse entries already replayed this many times (default \"3\")\n"},
			[]string{"--all ", "--format", `(default "false")`}},
		{[]string{"dlq", "discard", "--help"}, []string{"  --all              allow discarding every entry when no filter or id is given\n", "  --dry-run "},
			[]string{"--max-replays", "--format", `(default "false")`}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			env, out, _ := testEnv(nil)
			if code := Run(context.Background(), env, tc.args); code != ExitOK {
				t.Fatalf("exit %d", code)
			}
			checkOutput(t, "help", out.String(), tc.wants, tc.nots)
		})
	}
}

func TestErrorLines(t *testing.T) {
	tests := []struct {
		name, msg string
		want      []string
	}{
		{"one line", "scylla.hosts: refused", []string{"scylla.hosts: refused"}},
		{"joined settings", "config: processor: bad\nconfig: cdc.confidence_window: negative", []string{"config: processor: bad", "config: cdc.confidence_window: negative"}},
		{"trailing newline", "gocql: unable to create session: dial tcp: refused\n", []string{"gocql: unable to create session: dial tcp: refused"}},
		{"indented causes", "kafka: client has run out of available brokers to talk to: 2 errors occurred:\n\t* dial tcp a: refused\n\t* dial tcp b: refused\n",
			[]string{"kafka: client has run out of available brokers to talk to: 2 errors occurred: * dial tcp a: refused * dial tcp b: refused"}},
		{"blank lines between", "first\n\n  \nsecond", []string{"first", "second"}},
		{"no message", "\n", []string{"failed (the error has no message)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := errorLines(tc.msg); !slices.Equal(got, tc.want) {
				t.Fatalf("errorLines(%q) = %q, want %q", tc.msg, got, tc.want)
			}
		})
	}
}

// A driver error that spans lines (gocql's ends with a newline) is printed
// once, on one line under the command's name, with no empty line.
func TestDriverErrorPrintedOnOneLine(t *testing.T) {
	env, _, errOut := testEnv(nil)
	code := Run(context.Background(), env, []string{"dlq", "list", "--scylla-hosts", outboxtest.FreeAddr(t), "--scylla.connect-timeout", "300ms"})
	lines := strings.Split(strings.TrimSuffix(errOut.String(), "\n"), "\n")
	if code != ExitFailure || len(lines) != 1 || !strings.HasPrefix(lines[0], "outbox dlq: storage: connect to ") {
		t.Fatalf("exit %d (want %d), stderr:\n%s\nwant one line naming the connection", code, ExitFailure, errOut.String())
	}
}

// The relay refuses the low-latency window on a cluster that is not the
// emulator: a bad setting, so exit 2, with one line naming it.
func TestRelayRefusesAnUnsafeWindowWithExit2(t *testing.T) {
	db := outboxtest.StartDB(t, outboxtest.WithEmulator(scyllaemu.Options{ClusterName: "prod-eu1"}))
	env, _, errOut := testEnv(nil)
	code := Run(context.Background(), env, []string{"relay", "--scylla-hosts", db.Addr, "--kafka-brokers", outboxtest.FreeAddr(t),
		"--scylla.consistency", "ONE", "--cdc.profile", "low-latency", "--http.listen", "", "--log.level", "error"})
	lines := strings.Split(strings.TrimSuffix(errOut.String(), "\n"), "\n")
	if code != ExitUsage || len(lines) != 1 || !strings.HasPrefix(lines[0], "outbox relay: cdc.confidence_window: window too small for late-visible writes: ") {
		t.Fatalf("exit %d (want %d), stderr:\n%s\nwant one line naming cdc.confidence_window", code, ExitUsage, errOut.String())
	}
}

// A demo whose events do not all arrive says how many and exits 1: a wait
// of 1 ns gives up before the relay can read the seeded event.
func TestDemoMissingEventsExit1(t *testing.T) {
	env, stdout, stderr := testEnv(nil)
	code := Run(context.Background(), env, []string{"demo", "--orders", "1", "--updates", "0", "--wait", "1ns"})
	if code != ExitFailure || !strings.Contains(stdout.String(), "result: 1 events did not arrive") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1 and the missing event counted", code, stdout.String(), stderr.String())
	}
}

// checkOutput reports each of wants that text lacks and each of nots it
// has; what names the output in the messages.
func checkOutput(t *testing.T, what, text string, wants, nots []string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
	for _, n := range nots {
		if strings.Contains(text, n) {
			t.Errorf("%s has %q:\n%s", what, n, text)
		}
	}
}
