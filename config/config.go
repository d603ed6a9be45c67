package config

import (
	"time"
)

// The struct tags below are the settings table: yaml is the key (and so the
// flag and environment variable names), help the one-line documentation
// shown by --help and Reference (which append the default from the base
// configuration, so help texts state units and meaning but never repeat a
// default), secret
// masks the value, and alias adds extra flag names. Every leaf field must
// be a string, []string, int, float64, bool or time.Duration; a test fails
// otherwise.

// Config is the configuration of every service of the outbox binary. Each
// service reads the sections it needs.
type Config struct {
	Processor string          `yaml:"processor" help:"Which relay processor reads the outbox: cdc (the outbox table's CDC log) or polling (the outbox_by_bucket table)."`
	Scylla    ScyllaConfig    `yaml:"scylla"`
	Kafka     KafkaConfig     `yaml:"kafka"`
	Relay     RelaySettings   `yaml:"relay"`
	CDC       CDCSettings     `yaml:"cdc"`
	Polling   PollingSettings `yaml:"polling"`
	Schema    SchemaSettings  `yaml:"schema"`
	HTTP      HTTPSettings    `yaml:"http"`
	Log       LogSettings     `yaml:"log"`
}

// ScyllaConfig is how services connect to ScyllaDB.
type ScyllaConfig struct {
	Hosts             []string      `yaml:"hosts" alias:"scylla-hosts" help:"Contact points, comma-separated host or host:port (port 9042 when omitted; bracket IPv6 addresses that carry a port). The driver discovers the rest of the cluster from them."`
	Keyspace          string        `yaml:"keyspace" help:"Keyspace of the outbox tables: a lower-case CQL identifier of at most 48 characters, not starting with system."`
	Consistency       string        `yaml:"consistency" help:"Consistency level of reads and writes as ScyllaDB spells it (LOCAL_QUORUM, QUORUM, ONE, ...)."`
	Username          string        `yaml:"username" help:"User name for password authentication; set together with scylla.password or scylla.password_file. Empty: no authentication."`
	Password          string        `yaml:"password" secret:"true" help:"Password of scylla.username. Secret: masked in output; prefer scylla.password_file or the environment variable to the flag, which other users can see in the process list."`
	PasswordFile      string        `yaml:"password_file" help:"Path of a file holding the password of scylla.username (trailing line breaks are ignored), instead of scylla.password: a mounted secret, say. Read at start."`
	TLS               TLSSettings   `yaml:"tls"`
	Timeout           time.Duration `yaml:"timeout" help:"Time limit of each request, a duration."`
	ConnectTimeout    time.Duration `yaml:"connect_timeout" help:"Time limit of dialling and the connection handshake, a duration; it bounds start-up when hosts are unreachable."`
	LocalDC           string        `yaml:"local_dc" help:"Data centre whose nodes serve queries (other data centres are not queried). Empty: all nodes. migrate also puts the replicas of a new keyspace there."`
	ReplicationFactor int           `yaml:"replication_factor" help:"Number of replicas of each row, used only by migrate when it creates the keyspace (SimpleStrategy, or NetworkTopologyStrategy in scylla.local_dc when that is set, or in every data centre with schema.tablets)."`
}

// TLSSettings configures TLS to ScyllaDB or to Kafka. TLS is on when
// Enabled is true or any other field is set, so that naming a CA file is
// enough to turn it on.
type TLSSettings struct {
	Enabled            bool   `yaml:"enabled" help:"Encrypt connections with TLS, verifying the server against the system's CAs unless a CA file is given. Implied by the other TLS settings."`
	CAFile             string `yaml:"ca_file" help:"Path of a PEM bundle of CAs to trust instead of the system's."`
	CertFile           string `yaml:"cert_file" help:"Path of a PEM client certificate, for servers that require client authentication; set together with the key file."`
	KeyFile            string `yaml:"key_file" help:"Path of the PEM private key of the client certificate."`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify" help:"Skip verification of the server's certificate and host name. For tests only: it allows interception."`
}

// KafkaConfig is how the relay publishes to Kafka (or Redpanda).
type KafkaConfig struct {
	Brokers         []string      `yaml:"brokers" alias:"kafka-brokers" help:"Bootstrap brokers, comma-separated host:port. The producer discovers the rest of the cluster from them."`
	ClientID        string        `yaml:"client_id" help:"Kafka client.id shown in broker logs and used for quotas: ASCII letters, digits, '.', '_' and '-'."`
	TopicTemplate   string        `yaml:"topic_template" help:"Go text/template choosing each event's topic from its record fields ({{.AggregateType}}, {{.EventType}}, ...; functions lower, upper, replace)."`
	MaxMessageBytes int           `yaml:"max_message_bytes" help:"Largest record the producer sends, in bytes; set it to at most the broker's or topic's max.message.bytes so oversized events fail alone."`
	Timeout         time.Duration `yaml:"timeout" help:"Time limit of one broker request (dial, write, read), a duration of at least 10ms; a vanished broker surfaces within about 3 times this (plus kafka.delivery_timeout while the producer retries)."`
	DeliveryTimeout time.Duration `yaml:"delivery_timeout" help:"How long the producer itself retries a record (same producer sequence, so the broker drops a copy it already has) before the relay sees the failure and may publish it again, a duration of at least 100ms."`
	Linger          time.Duration `yaml:"linger" help:"How long the producer waits for more records before it sends a batch (Kafka's linger.ms), 0 to 1s; 0 sends at once. Larger batches cost the broker and its consumers far less per event under load, for at most this much more latency per event."`
	TLS             TLSSettings   `yaml:"tls"`
	SASL            SASLSettings  `yaml:"sasl"`
}

// SASLSettings configures SASL authentication to Kafka; it is on when User,
// Password or PasswordFile is set.
type SASLSettings struct {
	Mechanism    string `yaml:"mechanism" help:"SASL mechanism: PLAIN (sends the password itself, in clear text unless TLS is on), SCRAM-SHA-256 or SCRAM-SHA-512 (prove the password without sending it; Redpanda, Amazon MSK)."`
	User         string `yaml:"user" help:"SASL user name; set together with kafka.sasl.password or kafka.sasl.password_file. Empty: no SASL."`
	Password     string `yaml:"password" secret:"true" help:"SASL password. Secret: masked in output; prefer kafka.sasl.password_file or the environment variable to the flag, which other users can see in the process list."`
	PasswordFile string `yaml:"password_file" help:"Path of a file holding the SASL password (trailing line breaks are ignored), instead of kafka.sasl.password. Read at start."`
}

// RelaySettings is how the relay publishes: retries, the circuit breaker,
// poison events and backpressure.
type RelaySettings struct {
	Name           string           `yaml:"name" help:"Name the relay's progress (CDC position or polling cursor) is saved under. Any number of relays may run with one name: the Kafka group scylla-outbox.<name> elects one to read and publish, the others stand by and take over when it stops."`
	Member         string           `yaml:"member" help:"This process's name among the relays of relay.name, as /status, the logs and Kafka's group tools show it; default <hostname>:<pid>."`
	Election       ElectionSettings `yaml:"election"`
	RetryPreset    string           `yaml:"retry_preset" help:"Retry schedule of a failing publish: default (3 attempts, 100ms doubling to 10s), aggressive (5, 50ms to 30s), conservative (2, 200ms to 5s), or custom (the relay.max_attempts ... relay.jitter settings)."`
	MaxAttempts    int              `yaml:"max_attempts" help:"Custom preset only: counted publish attempts of an event, the first included, before it is dead-lettered; a count."`
	InitialBackoff time.Duration    `yaml:"initial_backoff" help:"Custom preset only: delay before the second attempt, a duration."`
	MaxBackoff     time.Duration    `yaml:"max_backoff" help:"Custom preset only: cap on every retry delay, a duration."`
	Multiplier     float64          `yaml:"multiplier" help:"Custom preset only: factor (at least 1) by which the delay grows after each failed attempt."`
	Jitter         float64          `yaml:"jitter" help:"Custom preset only: fraction (0 to 1) of each delay that is randomised, so retries of many events do not hit a recovering broker at once."`
	Breaker        BreakerSettings  `yaml:"breaker"`
	PoisonPolicy   string           `yaml:"poison_policy" help:"What happens to an aggregate's later events once one is dead-lettered: continue (publish them; consumers see a gap) or hold (dead-letter them too, in order, until the entry is replayed)."`
	MaxInFlight    int              `yaml:"max_in_flight" help:"Most events read but not yet finished, a count; reading pauses at the limit, which keeps a relay facing a dead broker from reading the whole log into memory."`
	DrainTimeout   time.Duration    `yaml:"drain_timeout" help:"How long a graceful stop waits for in-flight events, a duration; unfinished ones are read again after the restart."`
	DLQRefresh     time.Duration    `yaml:"dlq_refresh" help:"How often the relay reloads the dead-letter index, a duration: after an entry is replayed or discarded, a held aggregate is released within this time."`
	// ProgressInterval bounds the duplicates of a crash.
	ProgressInterval time.Duration `yaml:"progress_interval" help:"How often the progress of finished events is saved (CDC per-stream progress, polling cursor and finished set), a duration: a relay that crashes publishes again at most this much traffic, plus what was in flight."`
}

// ElectionSettings configure how the relays of one name elect the active
// one, through a Kafka consumer group.
type ElectionSettings struct {
	Topic             string        `yaml:"topic" help:"Kafka topic whose partition 0 the relays of a name compete for: one partition, created if missing, nothing is written to it; every relay name may share it."`
	SessionTimeout    time.Duration `yaml:"session_timeout" help:"How long Kafka waits for a silent relay before electing another, a duration: an active relay that dies is replaced after about this long plus one heartbeat. The brokers refuse values below their group.min.session.timeout.ms (6s by default)."`
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval" help:"How often a relay heartbeats to its group, a duration of at most a third of the session timeout: a standby learns of a failover within one interval."`
}

// BreakerSettings configures the relay's circuit breaker.
type BreakerSettings struct {
	FailureThreshold int           `yaml:"failure_threshold" help:"Consecutive transient publish failures that open the circuit breaker, a count. While open, nothing is published and no retry attempts are spent."`
	OpenTimeout      time.Duration `yaml:"open_timeout" help:"How long the breaker stays open before probing the broker, a duration."`
	HalfOpenProbes   int           `yaml:"half_open_probes" help:"Probe publishes allowed while half-open, and successes in a row that close the breaker; a count."`
}

// CDCSettings configures the CDC processor's reader. The windows trade
// latency against safety; see [cdc.ReaderConfig].
type CDCSettings struct {
	Profile                string        `yaml:"profile" help:"Base reader windows: default (scylla-cdc-go's: 30s confidence window, 10s/30s poll delays; changes arrive 30-60s after commit) or low-latency (10ms window; stream groups query together every 50ms while changes flow, every 200ms when idle; ONLY for the embedded emulator, which stamps a write after every read it answered, so a small window cannot skip one; real clusters refuse windows not above scylla.timeout). The settings below override single windows."`
	ConfidenceWindow       time.Duration `yaml:"confidence_window" help:"How old a change must be before it is read, a duration; 0 takes the profile's. On a real cluster it must exceed scylla.timeout plus the clock skew between nodes, or late-visible changes are skipped for good; the relay refuses to start otherwise (only the embedded emulator allows less)."`
	QueryWindow            time.Duration `yaml:"query_window" help:"Time range one CDC log query covers, a duration; 0 takes the profile's."`
	PostNonEmptyQueryDelay time.Duration `yaml:"post_non_empty_query_delay" help:"Pause after a log query that returned changes, a duration; 0 takes the profile's."`
	PostEmptyQueryDelay    time.Duration `yaml:"post_empty_query_delay" help:"Pause after a log query that returned nothing, a duration; 0 takes the profile's."`
	PostFailedQueryDelay   time.Duration `yaml:"post_failed_query_delay" help:"Pause after a failed log query, a duration; 0 takes the profile's."`
	ChangeAgeLimit         time.Duration `yaml:"change_age_limit" help:"How far back a relay without saved progress starts reading, a duration; 0 takes scylla-cdc-go's (1m)."`
	ProgressTTL            time.Duration `yaml:"progress_ttl" help:"Expiry of saved per-stream progress, a duration in whole seconds; 0 takes scylla-cdc-go's (7 days). A relay stopped longer loses its position."`
	StartFrom              string        `yaml:"start_from" help:"RFC 3339 time (e.g. 2024-05-01T12:00:00Z) where a relay without saved progress starts, instead of now minus cdc.change_age_limit. Empty: not used. Saved progress always wins."`
}

// PollingSettings configures the polling processor.
type PollingSettings struct {
	Interval     time.Duration `yaml:"interval" help:"Time between polls of outbox_by_bucket, a duration."`
	SafetyWindow time.Duration `yaml:"safety_window" help:"How far behind its cursor each poll re-reads, a duration. On a real cluster it must exceed scylla.timeout (a write acknowledged within its timeout may become visible that late) plus the clock skew between nodes; the relay refuses to start otherwise. Only the embedded emulator, which stamps each write when it becomes visible, allows less."`
	Batch        int           `yaml:"batch" help:"Most events taken per poll, a count."`
	StartFrom    string        `yaml:"start_from" help:"RFC 3339 time where a relay without a saved cursor starts. Empty: one minute before its first start."`
}

// SchemaSettings are the options migrate applies: retention, and the
// keyspace's tablets mode.
type SchemaSettings struct {
	CDCLogTTL     time.Duration `yaml:"cdc_log_ttl" help:"How long ScyllaDB keeps the outbox CDC log, and so how long the CDC relay may be down without losing events; a duration in whole seconds, at most 20 years; 0 keeps rows forever."`
	OutboxTTL     time.Duration `yaml:"outbox_ttl" help:"Expiry of outbox rows, and so how long the polling relay may be down; a duration in whole seconds, at most 20 years; 0 keeps rows forever."`
	DeadLetterTTL time.Duration `yaml:"dead_letter_ttl" help:"Expiry of dead-letter entries, a duration in whole seconds, at most 20 years; 0 (the schema default) keeps them forever, since an expired entry is an event nobody will replay."`
	Tablets       bool          `yaml:"tablets" help:"Create the keyspace with tablets instead of vnodes; CDC on tablets needs ScyllaDB 2025.4 or later. Used only when migrate creates the keyspace. Replication is then NetworkTopologyStrategy with scylla.replication_factor in scylla.local_dc, or in every data centre when that is empty."`
}

// HTTPSettings configures the HTTP listener (metrics and health).
type HTTPSettings struct {
	Listen string `yaml:"listen" help:"host:port of the HTTP server for /metrics and health checks (:0 picks a free port); empty disables it."`
}

// LogSettings configures logging.
type LogSettings struct {
	Level  string `yaml:"level" help:"Least severe log level written: debug, info, warn or error."`
	Format string `yaml:"format" help:"Log format: console (human-readable) or json (one object per line)."`
}

// CDC profiles, the custom retry preset and the poison policies.
const (
	ProfileDefault    = "default"
	ProfileLowLatency = "low-latency"

	PresetCustom = "custom"

	PolicyContinue = "continue"
	PolicyHold     = "hold"
)

// On reports whether TLS is to be used.
func (t TLSSettings) On() bool {
	return t.Enabled || t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.InsecureSkipVerify
}

// ParseTime parses an optional RFC 3339 time; empty is the zero time.
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}
