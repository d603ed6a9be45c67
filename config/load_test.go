package config

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scylla-outbox/scylla-outbox/outbox"
)

// env is a test environment: variables and their values.
type env map[string]string

func (e env) getenv(k string) string { return e[k] }

func (e env) environ() []string {
	var out []string
	for k, v := range e {
		out = append(out, k+"="+v)
	}
	return out
}

// writeYAML writes a config file into a test directory and returns its path.
func writeYAML(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "outbox.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// load parses args as a subcommand would: the settings' flags on a flag
// set, then the sources over base().
func load(t *testing.T, args []string, e env) (Config, []string, error) {
	t.Helper()
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		return Config{}, nil, f.ParseError(err)
	}
	c, err := f.Load(base(), e.getenv, e.environ())
	return c, fs.Args(), err
}

func mustLoad(t *testing.T, args []string, e env) Config {
	t.Helper()
	c, _, err := load(t, args, e)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

func TestPrecedence(t *testing.T) {
	type layers struct {
		yaml string
		env  env
		args []string
	}
	tests := []struct {
		name   string
		layers layers
		got    func(Config) any
		want   any
	}{
		{"default", layers{}, func(c Config) any { return c.CDC.ConfidenceWindow }, time.Duration(0)},
		{"yaml over default",
			layers{yaml: "cdc:\n  confidence_window: 100ms\n"},
			func(c Config) any { return c.CDC.ConfidenceWindow }, 100 * time.Millisecond},
		{"env over yaml",
			layers{yaml: "cdc: {confidence_window: 100ms}", env: env{"OUTBOX_CDC_CONFIDENCE_WINDOW": "2s"}},
			func(c Config) any { return c.CDC.ConfidenceWindow }, 2 * time.Second},
		{"flag over env",
			layers{yaml: "cdc: {confidence_window: 100ms}", env: env{"OUTBOX_CDC_CONFIDENCE_WINDOW": "2s"}, args: []string{"--cdc.confidence-window", "3s"}},
			func(c Config) any { return c.CDC.ConfidenceWindow }, 3 * time.Second},
		{"flag over yaml without env",
			layers{yaml: "processor: polling", args: []string{"--processor=cdc"}},
			func(c Config) any { return c.Processor }, "cdc"},
		{"yaml list as sequence",
			layers{yaml: "scylla:\n  hosts: [a:9042, b]\n"},
			func(c Config) any { return c.Scylla.Hosts }, []string{"a:9042", "b"}},
		{"yaml list as comma string",
			layers{yaml: "kafka: {brokers: 'k1:9092, k2:9092,'}"},
			func(c Config) any { return c.Kafka.Brokers }, []string{"k1:9092", "k2:9092"}},
		{"env list over yaml list",
			layers{yaml: "scylla: {hosts: [a]}", env: env{"OUTBOX_SCYLLA_HOSTS": "x:1,y:2"}},
			func(c Config) any { return c.Scylla.Hosts }, []string{"x:1", "y:2"}},
		{"flag list, last flag wins",
			layers{env: env{"OUTBOX_KAFKA_BROKERS": "e:1"}, args: []string{"--kafka.brokers", "f:1,g:2", "--kafka.brokers", "h:3"}},
			func(c Config) any { return c.Kafka.Brokers }, []string{"h:3"}},
		{"alias --scylla-hosts",
			layers{args: []string{"--scylla-hosts", "a:9042,b:9042"}},
			func(c Config) any { return c.Scylla.Hosts }, []string{"a:9042", "b:9042"}},
		{"alias --kafka-brokers",
			layers{args: []string{"--kafka-brokers=k:9093"}},
			func(c Config) any { return c.Kafka.Brokers }, []string{"k:9093"}},
		{"int from each layer",
			layers{yaml: "relay: {max_in_flight: 10}", env: env{"OUTBOX_RELAY_MAX_IN_FLIGHT": "20"}},
			func(c Config) any { return c.Relay.MaxInFlight }, 20},
		{"float",
			layers{yaml: "relay: {jitter: .5}", args: []string{"--relay.multiplier", "1.5"}},
			func(c Config) any { return [2]float64{c.Relay.Jitter, c.Relay.Multiplier} }, [2]float64{0.5, 1.5}},
		{"bare bool flag",
			layers{yaml: "kafka: {tls: {enabled: false}}", args: []string{"--kafka.tls.enabled"}},
			func(c Config) any { return c.Kafka.TLS.Enabled }, true},
		{"bool flag false over env true",
			layers{env: env{"OUTBOX_SCYLLA_TLS_INSECURE_SKIP_VERIFY": "true"}, args: []string{"--scylla.tls.insecure-skip-verify=false"}},
			func(c Config) any { return c.Scylla.TLS.InsecureSkipVerify }, false},
		{"nested breaker",
			layers{yaml: "relay:\n  breaker:\n    open_timeout: 1m\n", env: env{"OUTBOX_RELAY_BREAKER_FAILURE_THRESHOLD": "9"}},
			func(c Config) any { return c.Relay.Breaker }, BreakerSettings{FailureThreshold: 9, OpenTimeout: time.Minute, HalfOpenProbes: 3}},
		{"empty env value sets empty",
			layers{yaml: "http: {listen: ':9000'}", env: env{"OUTBOX_HTTP_LISTEN": ""}},
			func(c Config) any { return c.HTTP.Listen }, ""},
		{"yaml null leaves the default",
			layers{yaml: "kafka:\n  client_id:\ncdc:\n"},
			func(c Config) any { return c.Kafka.ClientID }, base().Kafka.ClientID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := env{}
			for k, v := range tt.layers.env {
				e[k] = v
			}
			args := tt.layers.args
			if tt.layers.yaml != "" {
				e["OUTBOX_CONFIG"] = writeYAML(t, tt.layers.yaml)
			}
			c := mustLoad(t, args, e)
			if got := tt.got(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestConfigFile(t *testing.T) {
	fromEnv := writeYAML(t, "log: {level: debug}")
	fromFlag := writeYAML(t, "log: {level: warn}")
	e := env{"OUTBOX_CONFIG": fromEnv}
	if c := mustLoad(t, nil, e); c.Log.Level != "debug" {
		t.Errorf("OUTBOX_CONFIG: level %q, want debug", c.Log.Level)
	}
	if c := mustLoad(t, []string{"--config", fromFlag}, e); c.Log.Level != "warn" {
		t.Errorf("--config over OUTBOX_CONFIG: level %q, want warn", c.Log.Level)
	}
	// An explicitly empty --config reads no file, whatever the environment
	// says.
	if c := mustLoad(t, []string{"--config="}, e); c.Log.Level != "info" {
		t.Errorf("--config '': level %q, want the default", c.Log.Level)
	}
	// Anchors and aliases work; an empty file sets nothing.
	c := mustLoad(t, []string{"--config", writeYAML(t, "cdc:\n  query_window: &w 7s\n  confidence_window: *w\n")}, nil)
	if c.CDC.ConfidenceWindow != 7*time.Second {
		t.Errorf("alias: confidence window %v", c.CDC.ConfidenceWindow)
	}
	if c := mustLoad(t, []string{"--config", writeYAML(t, "# nothing\n")}, nil); !reflect.DeepEqual(c, base()) {
		t.Errorf("empty file changed the config: %v", c)
	}
}

func TestRemainingArgs(t *testing.T) {
	_, rest, err := load(t, []string{"--processor", "polling", "replay", "--all"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rest, []string{"replay", "--all"}) {
		t.Errorf("remaining args %q", rest)
	}
}

func TestUsage(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "-help"} {
		if _, _, err := load(t, []string{arg}, nil); !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("%s: err %v, want flag.ErrHelp", arg, err)
		}
	}
	var out bytes.Buffer
	if err := Usage(&out, base()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"--config file",
		"--cdc.confidence-window duration",
		"--scylla.hosts list",
		"default 127.0.0.1:9042; env OUTBOX_SCYLLA_HOSTS; alias --scylla-hosts",
		"--scylla.password string",
		"env OUTBOX_RELAY_BREAKER_OPEN_TIMEOUT",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q", want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  env
		want []string // each an error line fragment
	}{
		{"unknown flag", []string{"--cdc.confidence-windw", "1s"}, nil,
			[]string{"config: unknown flag --cdc.confidence-windw (did you mean --cdc.confidence-window?)"}},
		{"unknown flag far from any", []string{"--zzzzzzzz"}, nil,
			[]string{"config: unknown flag --zzzzzzzz (see --help)"}},
		{"bad flag value", []string{"--cdc.confidence-window", "soon"}, nil,
			[]string{`config: flag --cdc.confidence-window: "soon" is not a duration (e.g. 250ms, 5s, 1h30m)`}},
		{"bad alias value names the alias", []string{"--scylla-hosts=a", "--relay.max-in-flight=lots"}, nil,
			[]string{`config: flag --relay.max-in-flight: "lots" is not a whole number`}},
		{"flag without value", []string{"--processor"}, nil,
			[]string{"config: flag --processor needs a value"}},
		{"unknown env", nil, env{"OUTBOX_CDC_CONFIDENCE_WINDOWS": "1s", "OUTBOX_NOPE_NOPE_NOPE": "x", "HOME": "/root"},
			[]string{
				"config: environment variable OUTBOX_CDC_CONFIDENCE_WINDOWS is not a setting (did you mean OUTBOX_CDC_CONFIDENCE_WINDOW?)",
				"config: environment variable OUTBOX_NOPE_NOPE_NOPE is not a setting",
			}},
		{"bad env values", nil, env{"OUTBOX_POLLING_BATCH": "1e3", "OUTBOX_KAFKA_TLS_ENABLED": "yes", "OUTBOX_RELAY_JITTER": "a bit"},
			[]string{
				`config: environment variable OUTBOX_POLLING_BATCH: "1e3" is not a whole number`,
				`config: environment variable OUTBOX_KAFKA_TLS_ENABLED: "yes" is not a boolean (want true or false)`,
				`config: environment variable OUTBOX_RELAY_JITTER: "a bit" is not a number`,
			}},
		{"missing file", []string{"--config", "/nonexistent/outbox.yaml"}, nil,
			[]string{"config: yaml /nonexistent/outbox.yaml: cannot read: no such file or directory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := load(t, tt.args, tt.env)
			checkLines(t, err, tt.want)
		})
	}
}

// checkLines asserts err has exactly one line per fragment, each line
// containing its fragment (in any order).
func checkLines(t *testing.T, err error, want []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d error lines, want %d:\n%v", len(lines), len(want), err)
	}
	for _, w := range want {
		found := false
		for _, l := range lines {
			found = found || strings.Contains(l, w)
		}
		if !found {
			t.Errorf("no line contains %q; got:\n%v", w, err)
		}
	}
}

func TestLoadYAMLErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // fragments after "config: yaml <path> "
	}{
		{"syntax", "cdc:\n  confidence_window: 1s\n  query_window 2s\n  x: y\n",
			[]string{"line 3: could not find expected ':'"}},
		{"unclosed flow", "scylla: {hosts: [a\n",
			[]string{"line 1: did not find expected ',' or ']'"}},
		{"unknown keys, one line each", "processor: cdc\ncdc:\n  confidence_windw: 1s\nkafak:\n  brokers: [a:1]\nscylla:\n  tls:\n    ca: x\n",
			[]string{
				"line 3: unknown key cdc.confidence_windw (did you mean cdc.confidence_window?)",
				"line 4: unknown key kafak (did you mean kafka?)",
				"line 8: unknown key scylla.tls.ca",
			}},
		{"bad values", "relay:\n  drain_timeout: 10\n  max_in_flight: many\nscylla:\n  hosts: {a: b}\n  tls:\n    enabled: maybe\n",
			[]string{
				`line 2: relay.drain_timeout: "10" is not a duration (e.g. 250ms, 5s, 1h30m)`,
				`line 3: relay.max_in_flight: "many" is not a whole number`,
				"line 5: scylla.hosts: want a list, got a mapping",
				`line 7: scylla.tls.enabled: "maybe" is not a boolean`,
			}},
		{"list for a scalar", "processor: [cdc]\n",
			[]string{"line 1: processor: want a string, got a list"}},
		{"section not a mapping", "cdc: fast\n",
			[]string{`line 1: cdc: want a mapping of settings, got "fast"`}},
		{"top level not a mapping", "- a\n- b\n",
			[]string{"line 1: the top level: want a mapping of settings, got a list"}},
		{"duplicate key", "log:\n  level: info\n  level: debug\n",
			[]string{"line 3: log.level: set twice (first on line 2)"}},
		{"nested list", "kafka:\n  brokers:\n    - [a:1]\n",
			[]string{"line 3: kafka.brokers: want a list of strings, got a list in it"}},
		{"two documents", "log: {level: info}\n---\nlog: {level: debug}\n",
			[]string{"line 2: a second YAML document; the file must hold one"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeYAML(t, tt.yaml)
			var want []string
			for _, w := range tt.want {
				want = append(want, "config: yaml "+path+" "+w)
			}
			_, _, err := load(t, []string{"--config", path}, nil)
			checkLines(t, err, want)
		})
	}
}

// Errors from every layer are reported together, so one run lists every
// mistake.
func TestLoadJoinsYAMLAndEnvErrors(t *testing.T) {
	path := writeYAML(t, "cdc: {confidence_window: x}\n")
	_, _, err := load(t, nil, env{"OUTBOX_CONFIG": path, "OUTBOX_LOG_LEVL": "debug"})
	checkLines(t, err, []string{
		"config: yaml " + path + ` line 1: cdc.confidence_window: "x" is not a duration`,
		"config: environment variable OUTBOX_LOG_LEVL is not a setting (did you mean OUTBOX_LOG_LEVEL?)",
	})
}

func TestYAMLRoundTrip(t *testing.T) {
	c := base()
	c.Processor = outbox.ProcessorPolling
	c.Scylla.Hosts = []string{"[::1]:9042", "db2"}
	c.Scylla.Keyspace = "yes" // a string YAML 1.1 would read as a bool
	c.Scylla.LocalDC = "123"  // one that reads as a number
	c.Kafka.SASL.Mechanism = "true"
	c.Scylla.TLS.CAFile = "/etc/ssl/ca.pem"
	c.Kafka.TopicTemplate = "events.{{.AggregateType | lower}}"
	c.Relay.RetryPreset = PresetCustom
	c.Relay.Jitter = 0
	c.Relay.Multiplier = 1.5
	c.CDC.Profile = ProfileLowLatency
	c.CDC.ConfidenceWindow = 1500 * time.Millisecond
	c.CDC.StartFrom = "2024-05-01T12:00:00Z"
	c.Schema.OutboxTTL = 90 * time.Minute
	c.HTTP.Listen = ""
	out, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	back := mustLoad(t, []string{"--config", writeYAML(t, string(out))}, nil)
	if !reflect.DeepEqual(back, c) {
		t.Errorf("round trip changed the config:\nYAML:\n%s\nwant %v\ngot  %v", out, c, back)
	}
	for _, want := range []string{"outbox_ttl: 1h30m\n", "cdc_log_ttl: 24h\n", "confidence_window: 1.5s\n", "hosts: ['[::1]:9042', db2]\n", `local_dc: "123"`, `mechanism: "true"`, "jitter: 0\n", `user: ""`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("YAML lacks %q:\n%s", want, out)
		}
	}
}

// Notes print as comments beside their settings, and a file printed with
// them loads back to the same configuration; a note for a setting that
// does not exist is an error, not a silently dropped line.
func TestAnnotatedYAML(t *testing.T) {
	c := mustLoad(t, nil, nil)
	out, err := c.AnnotatedYAML(map[string]string{"cdc.query_window": "at start: 30s", "relay.member": "at start: host:pid"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"query_window: 0s # at start: 30s\n", `member: "" # at start: host:pid` + "\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("annotated YAML lacks %q:\n%s", want, out)
		}
	}
	back := mustLoad(t, []string{"--config", writeYAML(t, string(out))}, nil)
	if !reflect.DeepEqual(back, c) {
		t.Errorf("round trip changed the config:\nYAML:\n%s\nwant %v\ngot  %v", out, c, back)
	}
	_, err = c.AnnotatedYAML(map[string]string{"cdc.query_window": "x", "cdc.querywindow": "y", "nosuch": "z"})
	if err == nil || !strings.Contains(err.Error(), "cdc.querywindow, nosuch") {
		t.Errorf("notes for unknown settings: err = %v", err)
	}
}
