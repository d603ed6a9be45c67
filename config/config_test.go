package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// base is the configuration these tests load over: any valid one works,
// the relay's defaults are app.DefaultConfig's business.
func base() Config {
	return Config{
		Processor: "cdc",
		Scylla: ScyllaConfig{Hosts: []string{"127.0.0.1:9042"}, Keyspace: "outbox", Consistency: "LOCAL_QUORUM",
			Timeout: 5 * time.Second, ConnectTimeout: 5 * time.Second, ReplicationFactor: 1},
		Kafka: KafkaConfig{Brokers: []string{"127.0.0.1:9092"}, ClientID: "scylla-outbox-relay", TopicTemplate: "outbox.event.{{.AggregateType}}",
			MaxMessageBytes: 1 << 20, Timeout: 10 * time.Second, DeliveryTimeout: 10 * time.Second, SASL: SASLSettings{Mechanism: "PLAIN"}},
		Relay: RelaySettings{Name: "outbox-relay", RetryPreset: "default", PoisonPolicy: PolicyContinue,
			MaxAttempts: 3, InitialBackoff: 100 * time.Millisecond, MaxBackoff: 10 * time.Second, Multiplier: 2, Jitter: 0.2,
			Election:    ElectionSettings{Topic: "outbox-relay-election", SessionTimeout: 6 * time.Second, HeartbeatInterval: time.Second},
			Breaker:     BreakerSettings{FailureThreshold: 5, OpenTimeout: 30 * time.Second, HalfOpenProbes: 3},
			MaxInFlight: 1000, DrainTimeout: 10 * time.Second, ProgressInterval: 100 * time.Millisecond, DLQRefresh: 10 * time.Second},
		CDC:     CDCSettings{Profile: ProfileDefault},
		Polling: PollingSettings{Interval: time.Second, SafetyWindow: 10 * time.Second, Batch: 1000},
		Schema:  SchemaSettings{CDCLogTTL: 24 * time.Hour, OutboxTTL: 7 * 24 * time.Hour},
		HTTP:    HTTPSettings{Listen: ":8080"},
		Log:     LogSettings{Level: "info", Format: "console"},
	}
}

func TestTable(t *testing.T) {
	if len(table) < 50 {
		t.Fatalf("only %d settings", len(table))
	}
	ref := Reference(base())
	for _, s := range table {
		if !strings.HasSuffix(s.help, ".") || len(s.help) < 20 {
			t.Errorf("%s: help %q should be a sentence", s.key(), s.help)
		}
		if !strings.Contains(ref, "`"+s.env()+"`") {
			t.Errorf("%s missing from Reference", s.env())
		}
	}
	s := byKey["cdc.post_non_empty_query_delay"]
	if s == nil || s.flag() != "cdc.post-non-empty-query-delay" || s.env() != "OUTBOX_CDC_POST_NON_EMPTY_QUERY_DELAY" || s.kind != kindDuration {
		t.Errorf("derived names wrong: %+v", s)
	}
	var secrets []string
	for _, s := range table {
		if s.secret {
			secrets = append(secrets, s.key())
		}
	}
	if want := []string{"scylla.password", "kafka.sasl.password"}; !reflect.DeepEqual(secrets, want) {
		t.Errorf("secrets %v, want %v", secrets, want)
	}
}

func TestLoadWithoutSourcesIsTheBase(t *testing.T) {
	if err := base().Validate(); err != nil {
		t.Fatal(err)
	}
	if c := mustLoad(t, nil, nil); !reflect.DeepEqual(c, base()) {
		t.Errorf("Load with no sources differs from its base")
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	pem := filepath.Join(dir, "ca.pem")
	secret, empty := filepath.Join(dir, "secret"), filepath.Join(dir, "empty")
	for path, data := range map[string]string{pem: "x", secret: "s3cret\n", empty: "\n"} {
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string // one fragment per expected error line
	}{
		{"processor", func(c *Config) { c.Processor = "foo" },
			[]string{`config: processor: "foo" is not a processor (want cdc or polling)`}},
		{"no hosts", func(c *Config) { c.Scylla.Hosts = nil },
			[]string{"config: scylla.hosts: must list at least one contact point"}},
		{"bad hosts", func(c *Config) {
			c.Scylla.Hosts = []string{"10.0.0.1:99999", "db:", "ok", "[::1]:9042", "::1", "http://x:9042"}
		},
			[]string{
				`config: scylla.hosts: 10.0.0.1:99999: invalid port "99999" (want 1-65535)`,
				`config: scylla.hosts: db:: invalid port "" (want 1-65535)`,
				`config: scylla.hosts: "http://x:9042" is not host:port`,
			}},
		{"keyspace", func(c *Config) { c.Scylla.Keyspace = "Outbox" },
			[]string{`config: scylla.keyspace: "Outbox" is not a keyspace name`}},
		{"reserved keyspace", func(c *Config) { c.Scylla.Keyspace = "system_x" },
			[]string{`config: scylla.keyspace: "system_x" is reserved`}},
		{"consistency", func(c *Config) { c.Scylla.Consistency = "MOST" },
			[]string{`config: scylla.consistency: "MOST" is not a consistency level`}},
		{"password without user", func(c *Config) { c.Scylla.Password = "s3cret" },
			[]string{"config: scylla.username: must be set with scylla.password"}},
		{"user without password", func(c *Config) { c.Scylla.Username = "app" },
			[]string{"config: scylla.password: must be set with scylla.username (or scylla.password_file)"}},
		{"password file", func(c *Config) { c.Scylla.Username, c.Scylla.PasswordFile = "app", secret }, nil},
		{"password file without user", func(c *Config) { c.Kafka.SASL.PasswordFile = secret },
			[]string{"config: kafka.sasl.user: must be set with kafka.sasl.password_file"}},
		{"password and password file", func(c *Config) {
			c.Scylla.Username, c.Scylla.Password, c.Scylla.PasswordFile = "app", "s3cret", secret
			c.Kafka.SASL.User, c.Kafka.SASL.Password, c.Kafka.SASL.PasswordFile = "relay", "s3cret", secret
		}, []string{
			"config: scylla.password_file: set either scylla.password or scylla.password_file, not both",
			"config: kafka.sasl.password_file: set either kafka.sasl.password or kafka.sasl.password_file, not both",
		}},
		{"password files that cannot be read", func(c *Config) {
			c.Scylla.Username, c.Scylla.PasswordFile = "app", filepath.Join(dir, "missing")
			c.Kafka.SASL.User, c.Kafka.SASL.PasswordFile = "relay", empty
		}, []string{
			"config: scylla.password_file: " + filepath.Join(dir, "missing") + ": no such file or directory",
			"config: kafka.sasl.password_file: " + empty + " is empty",
		}},
		{"kafka user without password", func(c *Config) { c.Kafka.SASL.User = "relay" },
			[]string{"config: kafka.sasl.password: must be set with kafka.sasl.user (or kafka.sasl.password_file)"}},
		{"timeouts", func(c *Config) { c.Scylla.Timeout = 0; c.Scylla.ConnectTimeout = -time.Second },
			[]string{"config: scylla.timeout: must be positive, got 0s", "config: scylla.connect_timeout: must be positive, got -1s"}},
		{"local dc", func(c *Config) { c.Scylla.LocalDC = " dc1" },
			[]string{`config: scylla.local_dc: " dc1" has surrounding spaces`}},
		{"replication factor", func(c *Config) { c.Scylla.ReplicationFactor = 0 },
			[]string{"config: scylla.replication_factor: must be at least 1, got 0"}},
		{"tls files", func(c *Config) {
			c.Scylla.TLS.CAFile = filepath.Join(dir, "missing.pem")
			c.Scylla.TLS.CertFile = dir
		}, []string{
			"config: scylla.tls.cert_file: must be set together with scylla.tls.key_file",
			"config: scylla.tls.ca_file: " + filepath.Join(dir, "missing.pem") + ": no such file or directory",
			"config: scylla.tls.cert_file: " + dir + " is a directory, not a PEM file",
		}},
		{"existing tls file", func(c *Config) { c.Kafka.TLS.CAFile = pem }, nil},
		{"no brokers", func(c *Config) { c.Kafka.Brokers = []string{} },
			[]string{"config: kafka.brokers: must list at least one broker"}},
		{"bad brokers", func(c *Config) { c.Kafka.Brokers = []string{"kafka", ":9092", "k:0"} },
			[]string{
				"config: kafka.brokers: kafka: missing :port",
				"config: kafka.brokers: :9092: missing host",
				`config: kafka.brokers: k:0: invalid port "0" (want 1-65535)`,
			}},
		{"max message bytes", func(c *Config) { c.Kafka.MaxMessageBytes = 0 },
			[]string{"config: kafka.max_message_bytes: must be at least 1, got 0"}},
		{"relay name", func(c *Config) { c.Relay.Name = " " },
			[]string{"config: relay.name: must not be empty"}},
		{"retry preset", func(c *Config) { c.Relay.RetryPreset = "fast" },
			[]string{`config: relay.retry_preset: "fast" is not a retry preset (want default, aggressive, conservative or custom)`}},
		{"custom retry", func(c *Config) {
			c.Relay.RetryPreset = PresetCustom
			c.Relay.MaxAttempts = 0
			c.Relay.InitialBackoff = time.Second
			c.Relay.MaxBackoff = time.Millisecond
			c.Relay.Multiplier = 0.5
			c.Relay.Jitter = 2
		}, []string{
			"config: relay.max_attempts: must be at least 1, got 0",
			"config: relay.max_backoff: 1ms is below relay.initial_backoff 1s",
			"config: relay.multiplier: must be at least 1, got 0.5",
			"config: relay.jitter: must be within 0 and 1, got 2",
		}},
		{"custom retry zero backoff", func(c *Config) { c.Relay.RetryPreset = PresetCustom; c.Relay.InitialBackoff = 0 },
			[]string{"config: relay.initial_backoff: must be positive, got 0s"}},
		{"valid custom retry", func(c *Config) { c.Relay.RetryPreset = PresetCustom; c.Relay.Jitter = 0; c.Relay.MaxAttempts = 10 }, nil},
		{"breaker", func(c *Config) {
			c.Relay.Breaker = BreakerSettings{FailureThreshold: 0, OpenTimeout: 0, HalfOpenProbes: -1}
		}, []string{
			"config: relay.breaker.failure_threshold: must be at least 1, got 0",
			"config: relay.breaker.open_timeout: must be positive, got 0s",
			"config: relay.breaker.half_open_probes: must be at least 1, got -1",
		}},
		{"poison policy", func(c *Config) { c.Relay.PoisonPolicy = "skip" },
			[]string{`config: relay.poison_policy: "skip" is not a poison policy (want continue or hold)`}},
		{"empty poison policy", func(c *Config) { c.Relay.PoisonPolicy = "" },
			[]string{`config: relay.poison_policy: "" is not a poison policy`}},
		{"progress interval", func(c *Config) { c.Relay.ProgressInterval = 0 },
			[]string{"config: relay.progress_interval: must be positive"}},
		{"dlq refresh", func(c *Config) { c.Relay.DLQRefresh = -time.Second },
			[]string{"config: relay.dlq_refresh: must be positive"}},
		{"election", func(c *Config) {
			c.Relay.Election.Topic = ""
			c.Relay.Election.HeartbeatInterval = 6 * time.Second
		}, []string{"config: relay.election.topic: must not be empty"}},
		{"in flight and drain", func(c *Config) { c.Relay.MaxInFlight = 0; c.Relay.DrainTimeout = 0 },
			[]string{"config: relay.max_in_flight: must be at least 1, got 0", "config: relay.drain_timeout: must be positive, got 0s"}},
		{"cdc profile", func(c *Config) { c.CDC.Profile = "fast" },
			[]string{`config: cdc.profile: "fast" is not a CDC profile (want default or low-latency)`}},
		{"cdc windows", func(c *Config) {
			c.CDC.ConfidenceWindow = -time.Second
			c.CDC.QueryWindow = -time.Second
			c.CDC.PostNonEmptyQueryDelay = -time.Second
			c.CDC.PostEmptyQueryDelay = -time.Second
			c.CDC.PostFailedQueryDelay = -time.Second
			c.CDC.ChangeAgeLimit = -time.Minute
		}, []string{
			"config: cdc.confidence_window: must not be negative, got -1s",
			"config: cdc.query_window: must not be negative, got -1s",
			"config: cdc.post_non_empty_query_delay: must not be negative, got -1s",
			"config: cdc.post_empty_query_delay: must not be negative, got -1s",
			"config: cdc.post_failed_query_delay: must not be negative, got -1s",
			"config: cdc.change_age_limit: must not be negative, got -1m",
		}},
		{"cdc progress ttl", func(c *Config) { c.CDC.ProgressTTL = 500 * time.Millisecond },
			[]string{"config: cdc.progress_ttl: must be a whole number of seconds, got 500ms"}},
		{"cdc progress ttl negative", func(c *Config) { c.CDC.ProgressTTL = -time.Hour },
			[]string{"config: cdc.progress_ttl: must not be negative, got -1h (0 takes scylla-cdc-go's 7 days)"}},
		{"start times", func(c *Config) { c.CDC.StartFrom = "yesterday"; c.Polling.StartFrom = "2024-05-01 12:00" },
			[]string{
				`config: cdc.start_from: "yesterday" is not an RFC 3339 time (e.g. 2024-05-01T12:00:00Z)`,
				`config: polling.start_from: "2024-05-01 12:00" is not an RFC 3339 time`,
			}},
		{"polling", func(c *Config) { c.Polling.Interval = 0; c.Polling.SafetyWindow = -time.Second; c.Polling.Batch = 0 },
			[]string{
				"config: polling.interval: must be positive, got 0s",
				"config: polling.safety_window: must be positive, got -1s",
				"config: polling.batch: must be at least 1, got 0",
			}},
		{"schema ttls", func(c *Config) {
			c.Schema.CDCLogTTL = -time.Hour
			c.Schema.OutboxTTL = 1500 * time.Millisecond
			c.Schema.DeadLetterTTL = 21 * 365 * 24 * time.Hour
		}, []string{
			"config: schema.cdc_log_ttl: must not be negative, got -1h (0 keeps rows forever)",
			"config: schema.outbox_ttl: must be a whole number of seconds, got 1.5s",
			"config: schema.dead_letter_ttl: must be at most 175200h (20 years, ScyllaDB's limit), got 183960h",
		}},
		{"ttls forever", func(c *Config) { c.Schema.CDCLogTTL = 0; c.Schema.OutboxTTL = 0 }, nil},
		{"http listen", func(c *Config) { c.HTTP.Listen = "8080" },
			[]string{`config: http.listen: 8080: missing :port (e.g. :8080 or 127.0.0.1:8080; empty disables HTTP)`}},
		{"http listen port", func(c *Config) { c.HTTP.Listen = "localhost:http" },
			[]string{`config: http.listen: localhost:http: invalid port "http" (want 0-65535)`}},
		{"http disabled or random port", func(c *Config) { c.HTTP.Listen = "" }, nil},
		{"http random port", func(c *Config) { c.HTTP.Listen = "127.0.0.1:0" }, nil},
		{"log", func(c *Config) { c.Log.Level = "verbose"; c.Log.Format = "text" },
			[]string{
				`config: log.level: "verbose" is not a log level (want debug, info, warn or error)`,
				`config: log.format: "text" is not a log format (want console or json)`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.mutate(&c)
			err := c.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			checkLines(t, err, tt.want)
		})
	}
}

func TestSecretsMasked(t *testing.T) {
	c := base()
	c.Scylla.Username, c.Scylla.Password = "app", "scylla-s3cret"
	c.Kafka.SASL.User, c.Kafka.SASL.Password = "relay", "kafka-s3cret"
	out, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"YAML": string(out), "String": c.String(), "%v": fmtV(c), "Redacted": fmtV(c.Redacted())} {
		if strings.Contains(text, "s3cret") {
			t.Errorf("%s leaks a secret:\n%s", name, text)
		}
		if strings.Count(text, Masked)%2 != 0 || !strings.Contains(text, Masked) {
			t.Errorf("%s: want 2 masked values:\n%s", name, text)
		}
	}
	r := c.Redacted()
	if r.Scylla.Password != Masked || r.Kafka.SASL.Password != Masked || r.Scylla.Username != "app" {
		t.Errorf("Redacted: %+v %+v", r.Scylla, r.Kafka.SASL)
	}
	if c.Scylla.Password != "scylla-s3cret" {
		t.Error("Redacted changed its receiver")
	}
	// A password file's path is no secret: output shows where the
	// password comes from.
	c.Scylla.Password, c.Scylla.PasswordFile = "", "/run/secrets/scylla"
	if out, err := c.YAML(); err != nil || !strings.Contains(string(out), "password_file: /run/secrets/scylla") {
		t.Errorf("YAML hides the password file (%v):\n%s", err, out)
	}
	// An unset secret stays visibly unset.
	if d := base().Redacted(); d.Scylla.Password != "" {
		t.Errorf("empty secret masked: %q", d.Scylla.Password)
	}
}

// A password file gives its contents without the trailing line breaks;
// errors name the file, never the contents.
func TestReadSecretFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, data string
		want       string
		wantErr    string
	}{
		{"plain", "s3cret", "s3cret", ""},
		{"trailing newline", "s3cret\n", "s3cret", ""},
		{"windows line ends", "s3cret\r\n\r\n", "s3cret", ""},
		{"inner spaces and newlines kept", " s3 cret\nx\n", " s3 cret\nx", ""},
		{"only a newline", "\n", "", " is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			if err := os.WriteFile(path, []byte(tt.data), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := ReadSecretFile(path)
			if got != tt.want || (err == nil) != (tt.wantErr == "") || (err != nil && err.Error() != path+tt.wantErr) {
				t.Errorf("ReadSecretFile = %q, %v; want %q, %q", got, err, tt.want, tt.wantErr)
			}
		})
	}
	for path, want := range map[string]string{filepath.Join(dir, "missing"): ": no such file or directory", dir: ": is a directory"} {
		if _, err := ReadSecretFile(path); err == nil || err.Error() != path+want {
			t.Errorf("ReadSecretFile(%s) = %v, want %q", path, err, path+want)
		}
	}
}

// fmtV is how a careless log line would print a Config.
func fmtV(c Config) string { return fmt.Sprintf("%v %+v", c, c) }
