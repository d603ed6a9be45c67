package app

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/scylla-outbox/scylla-outbox/actors"
	"github.com/scylla-outbox/scylla-outbox/cdc"
	"github.com/scylla-outbox/scylla-outbox/config"
	"github.com/scylla-outbox/scylla-outbox/messaging"
	"github.com/scylla-outbox/scylla-outbox/relay"
	"github.com/scylla-outbox/scylla-outbox/resilience"
	"github.com/scylla-outbox/scylla-outbox/schema"
	"github.com/scylla-outbox/scylla-outbox/storage"
)

var update = flag.Bool("update", false, "rewrite config/docs/config-reference.md")

const goldenReference = "../config/docs/config-reference.md"

// The README's configuration reference embeds this file: the settings
// table with the relay's defaults.
func TestConfigReferenceUpToDate(t *testing.T) {
	got := config.Reference(DefaultConfig())
	if *update {
		if err := os.WriteFile(goldenReference, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(goldenReference)
	if err != nil {
		t.Fatalf("%v (create it with go test ./app -run TestConfigReferenceUpToDate -update)", err)
	}
	if string(want) != got {
		t.Errorf("%s is out of date; regenerate it with go test ./app -run TestConfigReferenceUpToDate -update", goldenReference)
	}
}

func TestDefaultConfigIsValid(t *testing.T) {
	if _, err := NewSettings(DefaultConfig(), nil); err != nil {
		t.Fatal(err)
	}
}

// Rules that belong to a component are reported by NewSettings, one line
// each, under the setting's name.
func TestNewSettingsReportsComponentRules(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*config.Config)
		want   []string
	}{
		{"kafka fields", func(c *config.Config) {
			c.Kafka.ClientID = "a b"
			c.Kafka.TopicTemplate = "{{.Nope"
			c.Kafka.Timeout = time.Millisecond
			c.Kafka.DeliveryTimeout = 10 * time.Millisecond
			c.Kafka.Linger = -time.Millisecond
		}, []string{
			`config: kafka.client_id: "a b": only ASCII letters`,
			"config: kafka.topic_template: ",
			"config: kafka.timeout: must be at least 10ms, got 1ms",
			"config: kafka.linger: must be between 0 and 1s, got -1ms",
			"config: kafka.delivery_timeout: ",
		}},
		{"sasl mechanism", func(c *config.Config) {
			c.Kafka.SASL.Mechanism, c.Kafka.SASL.User, c.Kafka.SASL.Password = "GSSAPI", "u", "p"
		}, []string{`config: kafka.sasl.mechanism: "GSSAPI" is not supported (want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)`}},
		{"custom field under a named preset", func(c *config.Config) { c.Relay.RetryPreset = "aggressive"; c.Relay.MaxAttempts = 9 },
			[]string{`config: relay.max_attempts: is used only with relay.retry_preset custom, but the preset is "aggressive"`}},
		{"election topic", func(c *config.Config) { c.Relay.Election.Topic = "no spaces please" },
			[]string{"config: relay.election.topic: "}},
		{"heartbeat above a third of the session", func(c *config.Config) {
			c.Relay.Election.SessionTimeout, c.Relay.Election.HeartbeatInterval = 6*time.Second, 3*time.Second
		}, []string{"config: relay.election.heartbeat_interval: must be at most a third of the session timeout (6s), got 3s"}},
		{"a settings rule comes first", func(c *config.Config) { c.Processor = "magic" },
			[]string{`config: processor: "magic" is not a processor (want cdc or polling)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			_, err := NewSettings(c, nil)
			if !errors.Is(err, ErrInvalidSettings) {
				t.Fatalf("err %v, want ErrInvalidSettings", err)
			}
			lines := strings.Split(strings.TrimPrefix(err.Error(), ErrInvalidSettings.Error()+": "), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(tt.want), err)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("line %d: %q, want prefix %q", i, lines[i], w)
				}
			}
		})
	}
}

func TestNewSettingsConvertsEverySection(t *testing.T) {
	c := DefaultConfig()
	c.Scylla.Hosts = []string{"db1", "db2:19042"}
	c.Scylla.Username, c.Scylla.Password = "u", "p"
	c.Scylla.TLS.CAFile = os.DevNull // implies TLS; must exist
	c.Scylla.LocalDC = "dc1"
	c.Scylla.ReplicationFactor = 3
	c.Kafka.SASL.User, c.Kafka.SASL.Password = "ku", "kp"
	c.Kafka.Linger = 20 * time.Millisecond
	c.Relay.PoisonPolicy = "hold"
	c.Relay.Member = "relay-a"
	c.Relay.Election.SessionTimeout, c.Relay.Election.HeartbeatInterval = 9*time.Second, 2*time.Second
	c.Relay.MaxInFlight, c.Relay.DrainTimeout, c.Relay.ProgressInterval, c.Relay.DLQRefresh = 7, 3*time.Second, 250*time.Millisecond, 2*time.Second
	c.CDC.Profile = config.ProfileLowLatency
	c.CDC.PostEmptyQueryDelay = time.Second
	c.CDC.ProgressTTL = time.Hour
	c.CDC.StartFrom = "2024-05-01T12:00:00Z"
	c.Polling.StartFrom = "2024-05-01T13:00:00+01:00"
	c.Schema.CDCLogTTL = 0
	c.Schema.DeadLetterTTL = 48 * time.Hour
	s, err := NewSettings(c, nil)
	if err != nil {
		t.Fatal(err)
	}

	if want := (storage.Config{
		Hosts: []string{"db1", "db2:19042"}, Keyspace: "outbox", Consistency: "LOCAL_QUORUM",
		Timeout: 5 * time.Second, ConnectTimeout: 5 * time.Second, LocalDC: "dc1",
		Username: "u", Password: "p", TLS: &storage.TLSConfig{CAFile: os.DevNull},
	}); !reflect.DeepEqual(s.Storage, want) {
		t.Errorf("storage:\n got %+v\nwant %+v", s.Storage, want)
	}
	if d, err := NewSettings(DefaultConfig(), nil); err != nil || d.Storage.TLS != nil || d.Messaging.TLS != nil || d.Messaging.SASL != nil {
		t.Errorf("TLS or SASL on by default (%v)", err)
	} else if d.Messaging.Linger != messaging.DefaultLinger {
		t.Errorf("default linger %s, want %s", d.Messaging.Linger, messaging.DefaultLinger)
	}
	mc := s.Messaging
	if mc.SASL == nil || mc.SASL.Mechanism != "PLAIN" || mc.SASL.User != "ku" || mc.SASL.Password != "kp" ||
		!reflect.DeepEqual(mc.Brokers, []string{"127.0.0.1:9092"}) || mc.Timeout != 10*time.Second || mc.Linger != 20*time.Millisecond {
		t.Errorf("messaging: %+v", mc)
	}

	r := s.Relay
	if want := (actors.ProcessorConfig{Retry: resilience.DefaultRetry(), Breaker: resilience.DefaultBreaker(), Policy: relay.Hold,
		MaxInFlight: 7, DrainTimeout: 3 * time.Second, ProgressInterval: 250 * time.Millisecond, DLQRefresh: 2 * time.Second,
	}); !reflect.DeepEqual(r.Processing, want) {
		t.Errorf("relay processing:\n got %+v\nwant %+v", r.Processing, want)
	}
	if want := (messaging.ElectionConfig{Group: "scylla-outbox.outbox-relay", Topic: messaging.DefaultElectionTopic, Member: "relay-a",
		SessionTimeout: 9 * time.Second, HeartbeatInterval: 2 * time.Second}); r.Election != want {
		t.Errorf("election:\n got %+v\nwant %+v", r.Election, want)
	}
	want := cdc.LowLatency(cdc.ReaderConfig{})
	want.PostEmptyQueryDelay = time.Second
	want.StartFrom = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	if !reflect.DeepEqual(r.CDC, want) || r.CDCProgressTTL != time.Hour {
		t.Errorf("reader:\n got %+v, progress TTL %s\nwant %+v, 1h", r.CDC, r.CDCProgressTTL, want)
	}
	if d, _ := NewSettings(DefaultConfig(), nil); !reflect.DeepEqual(d.Relay.CDC, cdc.ReaderConfig{}) {
		t.Errorf("default profile must leave windows to scylla-cdc-go: %+v", d.Relay.CDC)
	}
	if ps := r.Polling; ps.Interval != time.Second || ps.SafetyWindow != actors.DefaultSafetyWindow || ps.Batch != 1000 ||
		!ps.StartFrom.Equal(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("polling: %+v", ps)
	}

	if want := (schema.Options{
		Keyspace:    "outbox",
		Replication: map[string]string{"class": "NetworkTopologyStrategy", "dc1": "3"},
		CDCLogTTL:   schema.NoTTL, OutboxTTL: schema.DefaultOutboxTTL, DeadLetterTTL: 48 * time.Hour,
	}); !reflect.DeepEqual(s.Schema, want) {
		t.Errorf("schema:\n got %+v\nwant %+v", s.Schema, want)
	}
	d, _ := NewSettings(DefaultConfig(), nil)
	if so := d.Schema; so.Replication["class"] != "SimpleStrategy" || so.Replication["replication_factor"] != "1" || so.DeadLetterTTL != schema.NoTTL {
		t.Errorf("default schema: %+v", so)
	}
	// Tablets need NetworkTopologyStrategy: in the local DC when one is
	// set, else in every DC.
	for _, localDC := range []string{"", "dc1"} {
		c := DefaultConfig()
		c.Schema.Tablets, c.Scylla.LocalDC = true, localDC
		want := map[string]string{"class": "NetworkTopologyStrategy", "replication_factor": "1"}
		if localDC != "" {
			want = map[string]string{"class": "NetworkTopologyStrategy", localDC: "1"}
		}
		s, err := NewSettings(c, nil)
		if err != nil || !s.Schema.Tablets || !reflect.DeepEqual(s.Schema.Replication, want) {
			t.Errorf("tablets schema with local DC %q: %+v (%v), want tablets and replication %v", localDC, s.Schema, err, want)
		}
	}
}

// The custom retry preset starts from the default preset's values: only
// what is set changes.
func TestCustomRetryOverridesTheDefaultPreset(t *testing.T) {
	for _, c := range []struct {
		preset string
		set    func(*config.RelaySettings)
		want   resilience.RetryPolicy
	}{
		{"default", func(*config.RelaySettings) {}, resilience.DefaultRetry()},
		{"aggressive", func(*config.RelaySettings) {}, resilience.AggressiveRetry()},
		{config.PresetCustom, func(r *config.RelaySettings) { r.MaxAttempts = 7 },
			resilience.RetryPolicy{MaxAttempts: 7, InitialBackoff: 100 * time.Millisecond, MaxBackoff: 10 * time.Second, Multiplier: 2, Jitter: 0.2}},
	} {
		cfg := DefaultConfig()
		cfg.Relay.RetryPreset = c.preset
		c.set(&cfg.Relay)
		s, err := NewSettings(cfg, nil)
		if err != nil || s.Relay.Processing.Retry != c.want {
			t.Errorf("%s: %+v %v, want %+v", c.preset, s.Relay.Processing.Retry, err, c.want)
		}
	}
}

// Passwords given by file reach the components without the file's trailing
// line break; a file that cannot be read is a settings error naming the
// setting.
func TestPasswordFiles(t *testing.T) {
	dir := t.TempDir()
	dbFile, kafkaFile := filepath.Join(dir, "scylla"), filepath.Join(dir, "kafka")
	for path, data := range map[string]string{dbFile: "db-s3cret\n", kafkaFile: "kafka-s3cret\r\n"} {
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := DefaultConfig()
	c.Scylla.Username, c.Scylla.PasswordFile = "relay", dbFile
	c.Kafka.SASL.Mechanism, c.Kafka.SASL.User, c.Kafka.SASL.PasswordFile = "SCRAM-SHA-256", "relay", kafkaFile
	s, err := NewSettings(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Storage.Username != "relay" || s.Storage.Password != "db-s3cret" {
		t.Errorf("storage login %q/%q", s.Storage.Username, s.Storage.Password)
	}
	if sc := s.Messaging.SASL; sc == nil || *sc != (messaging.SASLConfig{Mechanism: "SCRAM-SHA-256", User: "relay", Password: "kafka-s3cret"}) {
		t.Errorf("messaging SASL %+v", sc)
	}

	c.Kafka.SASL.PasswordFile = filepath.Join(dir, "missing")
	_, err = NewSettings(c, nil)
	if want := "config: kafka.sasl.password_file: " + filepath.Join(dir, "missing") + ": no such file or directory"; !errors.Is(err, ErrInvalidSettings) || !strings.Contains(err.Error(), want) {
		t.Errorf("NewSettings with a missing password file: %v, want %q", err, want)
	}
}

// The fields a refused connection names map to the settings a user edits.
func TestRefusalFieldsNameSettings(t *testing.T) {
	for _, tt := range []struct {
		name           func(string) string
		field, setting string
	}{
		{scyllaKey, "Username", "scylla.username"},
		{scyllaKey, "Password", "scylla.password"},
		{scyllaKey, "TLS.CAFile", "scylla.tls.ca_file"},
		{scyllaKey, "TLS.CertFile", "scylla.tls.cert_file"},
		{scyllaKey, "TLS", "scylla.tls"},
		{scyllaKey, "Hosts[1]", "scylla.hosts"},
		{kafkaKey, "SASL.Password", "kafka.sasl.password"},
		{kafkaKey, "SASL.Mechanism", "kafka.sasl.mechanism"},
		{kafkaKey, "TLS.CAFile", "kafka.tls.ca_file"},
		{kafkaKey, "TLS.CertFile", "kafka.tls.cert_file"},
		{kafkaKey, "TLS", "kafka.tls"},
	} {
		if got := tt.name(tt.field); got != tt.setting {
			t.Errorf("%s names %q, want %q", tt.field, got, tt.setting)
		}
	}
}
