package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gocql/gocql"

	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/schema"
)

// keyspaceName mirrors the rule of the storage and schema packages: an
// unquoted lower-case CQL identifier means the same quoted or not.
var keyspaceName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,47}$`)

// problems collects Validate's findings, one line each, naming the setting.
type problems []error

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, fmt.Errorf("config: %s: %s", key, fmt.Sprintf(format, args...)))
}

// Validate checks every setting and returns nil or an errors.Join of one
// error per bad value, each a single line "config: <key>: <problem>". It
// checks that TLS files exist (not that they hold valid PEM), so that a
// mistyped path is reported at start.
func (c Config) Validate() error {
	var p problems
	if !outbox.IsProcessor(c.Processor) {
		p.add("processor", "%q is not a processor (want %s or %s)", c.Processor, outbox.ProcessorCDC, outbox.ProcessorPolling)
	}
	c.validateScylla(&p)
	c.validateKafka(&p)
	c.validateRelay(&p)
	c.validateCDC(&p)
	c.validatePolling(&p)
	c.validateSchema(&p)
	if l := c.HTTP.Listen; l != "" {
		if err := checkHostPort(l, true, 0); err != nil {
			p.add("http.listen", "%v (e.g. :8080 or 127.0.0.1:8080; empty disables HTTP)", err)
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		p.add("log.level", "%q is not a log level (want debug, info, warn or error)", c.Log.Level)
	}
	switch c.Log.Format {
	case "console", "json":
	default:
		p.add("log.format", "%q is not a log format (want console or json)", c.Log.Format)
	}
	return errors.Join(p...)
}

func (c Config) validateScylla(p *problems) {
	s := c.Scylla
	if len(s.Hosts) == 0 {
		p.add("scylla.hosts", "must list at least one contact point")
	}
	for _, h := range s.Hosts {
		if err := checkHostPort(h, false, 1); err != nil {
			p.add("scylla.hosts", "%v", err)
		}
	}
	switch {
	case !keyspaceName.MatchString(s.Keyspace):
		p.add("scylla.keyspace", "%q is not a keyspace name (want a lower-case CQL identifier: a letter, then letters, digits or '_', at most 48)", s.Keyspace)
	case strings.HasPrefix(s.Keyspace, "system"):
		p.add("scylla.keyspace", "%q is reserved (names starting with \"system\" belong to ScyllaDB)", s.Keyspace)
	}
	if _, err := gocql.ParseConsistencyWrapper(s.Consistency); err != nil {
		p.add("scylla.consistency", "%q is not a consistency level (e.g. LOCAL_QUORUM, QUORUM, ONE)", s.Consistency)
	}
	validatePassword(p, "scylla.username", s.Username, "scylla.password", s.Password, "scylla.password_file", s.PasswordFile)
	positive(p, "scylla.timeout", s.Timeout)
	positive(p, "scylla.connect_timeout", s.ConnectTimeout)
	if strings.TrimSpace(s.LocalDC) != s.LocalDC {
		p.add("scylla.local_dc", "%q has surrounding spaces", s.LocalDC)
	}
	if s.ReplicationFactor < 1 {
		p.add("scylla.replication_factor", "must be at least 1, got %d", s.ReplicationFactor)
	}
	validateTLS(p, "scylla.tls", s.TLS)
}

// validateKafka checks the Kafka settings' form; the rest (client id
// characters, the topic template, SASL mechanisms) are messaging's rules,
// applied when the settings become a messaging.Config (app.NewSettings).
func (c Config) validateKafka(p *problems) {
	k := c.Kafka
	if len(k.Brokers) == 0 {
		p.add("kafka.brokers", "must list at least one broker")
	}
	for _, b := range k.Brokers {
		if err := checkHostPort(b, true, 1); err != nil {
			p.add("kafka.brokers", "%v", err)
		}
	}
	if k.MaxMessageBytes < 1 {
		p.add("kafka.max_message_bytes", "must be at least 1, got %d", k.MaxMessageBytes)
	}
	validateTLS(p, "kafka.tls", k.TLS)
	validatePassword(p, "kafka.sasl.user", k.SASL.User, "kafka.sasl.password", k.SASL.Password, "kafka.sasl.password_file", k.SASL.PasswordFile)
}

func (c Config) validateRelay(p *problems) {
	r := c.Relay
	if strings.TrimSpace(r.Name) == "" {
		p.add("relay.name", "must not be empty (progress is saved under it)")
	}
	switch r.RetryPreset {
	case "default", "aggressive", "conservative":
	case PresetCustom:
		if r.MaxAttempts < 1 {
			p.add("relay.max_attempts", "must be at least 1, got %d", r.MaxAttempts)
		}
		positive(p, "relay.initial_backoff", r.InitialBackoff)
		if r.MaxBackoff < r.InitialBackoff {
			p.add("relay.max_backoff", "%s is below relay.initial_backoff %s", formatDuration(r.MaxBackoff), formatDuration(r.InitialBackoff))
		}
		if r.Multiplier < 1 {
			p.add("relay.multiplier", "must be at least 1, got %g", r.Multiplier)
		}
		if r.Jitter < 0 || r.Jitter > 1 {
			p.add("relay.jitter", "must be within 0 and 1, got %g", r.Jitter)
		}
	default:
		p.add("relay.retry_preset", "%q is not a retry preset (want default, aggressive, conservative or custom)", r.RetryPreset)
	}

	e := r.Election
	if e.Topic == "" {
		p.add("relay.election.topic", "must not be empty")
	}
	positive(p, "relay.election.session_timeout", e.SessionTimeout)
	positive(p, "relay.election.heartbeat_interval", e.HeartbeatInterval)
	// Its bound against the session timeout is the election's own rule
	// (messaging.ElectionConfig.Validate), reported under this name.

	b := r.Breaker
	if b.FailureThreshold < 1 {
		p.add("relay.breaker.failure_threshold", "must be at least 1, got %d", b.FailureThreshold)
	}
	positive(p, "relay.breaker.open_timeout", b.OpenTimeout)
	if b.HalfOpenProbes < 1 {
		p.add("relay.breaker.half_open_probes", "must be at least 1, got %d", b.HalfOpenProbes)
	}
	switch r.PoisonPolicy {
	case PolicyContinue, PolicyHold:
	default:
		p.add("relay.poison_policy", "%q is not a poison policy (want continue or hold)", r.PoisonPolicy)
	}
	if r.MaxInFlight < 1 {
		p.add("relay.max_in_flight", "must be at least 1, got %d", r.MaxInFlight)
	}
	positive(p, "relay.drain_timeout", r.DrainTimeout)
	positive(p, "relay.progress_interval", r.ProgressInterval)
	positive(p, "relay.dlq_refresh", r.DLQRefresh)
}

func (c Config) validateCDC(p *problems) {
	s := c.CDC
	switch s.Profile {
	case ProfileDefault, ProfileLowLatency:
	default:
		p.add("cdc.profile", "%q is not a CDC profile (want default or low-latency)", s.Profile)
	}
	for _, w := range []struct {
		key string
		d   time.Duration
	}{
		{"cdc.confidence_window", s.ConfidenceWindow},
		{"cdc.query_window", s.QueryWindow},
		{"cdc.post_non_empty_query_delay", s.PostNonEmptyQueryDelay},
		{"cdc.post_empty_query_delay", s.PostEmptyQueryDelay},
		{"cdc.post_failed_query_delay", s.PostFailedQueryDelay},
		{"cdc.change_age_limit", s.ChangeAgeLimit},
	} {
		if w.d < 0 {
			p.add(w.key, "must not be negative, got %s", formatDuration(w.d))
		}
	}
	// scylla-cdc-go writes the progress TTL in whole seconds, and a value
	// below one second would become CQL TTL 0: progress kept forever.
	checkTTL(p, "cdc.progress_ttl", s.ProgressTTL, "0 takes scylla-cdc-go's 7 days")
	checkTime(p, "cdc.start_from", s.StartFrom)
}

func (c Config) validatePolling(p *problems) {
	s := c.Polling
	// Zero is rejected rather than passed on: the polling processor would
	// silently replace it with its own default.
	positive(p, "polling.interval", s.Interval)
	positive(p, "polling.safety_window", s.SafetyWindow)
	if s.Batch < 1 {
		p.add("polling.batch", "must be at least 1, got %d", s.Batch)
	}
	checkTime(p, "polling.start_from", s.StartFrom)
}

func (c Config) validateSchema(p *problems) {
	checkTTL(p, "schema.cdc_log_ttl", c.Schema.CDCLogTTL, "0 keeps rows forever")
	checkTTL(p, "schema.outbox_ttl", c.Schema.OutboxTTL, "0 keeps rows forever")
	checkTTL(p, "schema.dead_letter_ttl", c.Schema.DeadLetterTTL, "0 keeps rows forever")
}

// positive rejects zero too: for these settings the components would
// replace zero with a default of their own, so an explicit 0 would not mean
// what it says.
func positive(p *problems, key string, d time.Duration) {
	if d <= 0 {
		p.add(key, "must be positive, got %s", formatDuration(d))
	}
}

// checkTTL checks a TTL setting; zero says what 0 means for it.
func checkTTL(p *problems, key string, d time.Duration, zero string) {
	switch {
	case d < 0:
		p.add(key, "must not be negative, got %s (%s)", formatDuration(d), zero)
	case d%time.Second != 0:
		// CQL TTLs are whole seconds; rounding silently would make the
		// stored TTL differ from the setting.
		p.add(key, "must be a whole number of seconds, got %s", formatDuration(d))
	case d > schema.MaxTTL:
		p.add(key, "must be at most %s (20 years, ScyllaDB's limit), got %s", formatDuration(schema.MaxTTL), formatDuration(d))
	}
}

func checkTime(p *problems, key, s string) {
	if _, err := ParseTime(s); err != nil {
		p.add(key, "%q is not an RFC 3339 time (e.g. 2024-05-01T12:00:00Z)", s)
	}
}

// validatePassword checks a user and its password, given directly or in a
// file: both or neither, the password one way only, and the file
// readable. Messages never quote a password.
func validatePassword(p *problems, userKey, user, passwordKey, password, fileKey, file string) {
	switch {
	case password != "" && file != "":
		p.add(fileKey, "set either %s or %s, not both", passwordKey, fileKey)
	case user != "" && password == "" && file == "":
		p.add(passwordKey, "must be set with %s (or %s)", userKey, fileKey)
	case user == "" && password != "":
		p.add(userKey, "must be set with %s", passwordKey)
	case user == "" && file != "":
		p.add(userKey, "must be set with %s", fileKey)
	}
	if file != "" {
		if _, err := ReadSecretFile(file); err != nil {
			p.add(fileKey, "%v", err)
		}
	}
}

func validateTLS(p *problems, section string, t TLSSettings) {
	if (t.CertFile == "") != (t.KeyFile == "") {
		p.add(section+".cert_file", "must be set together with %s.key_file", section)
	}
	for _, f := range []struct{ key, path string }{
		{section + ".ca_file", t.CAFile}, {section + ".cert_file", t.CertFile}, {section + ".key_file", t.KeyFile},
	} {
		if f.path == "" {
			continue
		}
		switch st, err := os.Stat(f.path); {
		case err != nil:
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			p.add(f.key, "%s: %v", f.path, err)
		case st.IsDir():
			p.add(f.key, "%s is a directory, not a PEM file", f.path)
		}
	}
}

// checkHostPort checks "host:port", or "host" alone unless needPort. Ports
// run from minPort (0 lets a listener pick one) to 65535. A bare IPv6
// address has more than one colon and is accepted as a host.
func checkHostPort(addr string, needPort bool, minPort int) error {
	if addr == "" || strings.ContainsAny(addr, " \t/") {
		return fmt.Errorf("%q is not host:port", addr)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		if !needPort && strings.Count(addr, ":") != 1 {
			return nil
		}
		if needPort && !strings.Contains(addr, ":") {
			return fmt.Errorf("%s: missing :port", addr)
		}
		return fmt.Errorf("%q is not host:port", addr)
	}
	if host == "" && minPort > 0 {
		return fmt.Errorf("%s: missing host", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < minPort || n > 65535 {
		return fmt.Errorf("%s: invalid port %q (want %d-65535)", addr, port, minPort)
	}
	return nil
}
