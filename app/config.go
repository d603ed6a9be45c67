package app

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gocql/gocql"
	"go.uber.org/zap"

	"github.com/scylla-outbox/scylla-outbox/actors"
	"github.com/scylla-outbox/scylla-outbox/cdc"
	"github.com/scylla-outbox/scylla-outbox/config"
	"github.com/scylla-outbox/scylla-outbox/messaging"
	"github.com/scylla-outbox/scylla-outbox/outbox"
	"github.com/scylla-outbox/scylla-outbox/relay"
	"github.com/scylla-outbox/scylla-outbox/resilience"
	"github.com/scylla-outbox/scylla-outbox/schema"
	"github.com/scylla-outbox/scylla-outbox/storage"
)

// Defaults of settings that belong to no single component.
const (
	DefaultRelayName  = "outbox-relay"
	DefaultHTTPListen = ":8080"
)

// DefaultConfig is the configuration every source starts from: each setting
// at its component's default.
func DefaultConfig() config.Config {
	retry, breaker := resilience.DefaultRetry(), resilience.DefaultBreaker()
	return config.Config{
		Processor: outbox.ProcessorCDC,
		Scylla: config.ScyllaConfig{
			Hosts:             []string{storage.DefaultHost},
			Keyspace:          schema.DefaultKeyspace,
			Consistency:       storage.DefaultConsistency,
			Timeout:           storage.DefaultTimeout,
			ConnectTimeout:    storage.DefaultConnectTimeout,
			ReplicationFactor: schema.DefaultReplicationFactor,
		},
		Kafka: config.KafkaConfig{
			Brokers:         []string{messaging.DefaultBroker},
			ClientID:        messaging.DefaultClientID,
			TopicTemplate:   messaging.DefaultTopicTemplate,
			MaxMessageBytes: messaging.DefaultMaxMessageBytes,
			Timeout:         messaging.DefaultTimeout,
			DeliveryTimeout: messaging.DefaultDeliveryTimeout,
			Linger:          messaging.DefaultLinger,
			SASL:            config.SASLSettings{Mechanism: messaging.SASLMechanismPlain},
		},
		Relay: config.RelaySettings{
			Name: DefaultRelayName,
			Election: config.ElectionSettings{
				Topic:             messaging.DefaultElectionTopic,
				SessionTimeout:    messaging.DefaultSessionTimeout,
				HeartbeatInterval: messaging.DefaultHeartbeatInterval,
			},
			RetryPreset: "default",
			// The custom fields start as the default preset, so "custom"
			// changes only what is set.
			MaxAttempts:    retry.MaxAttempts,
			InitialBackoff: retry.InitialBackoff,
			MaxBackoff:     retry.MaxBackoff,
			Multiplier:     retry.Multiplier,
			Jitter:         retry.Jitter,
			Breaker: config.BreakerSettings{
				FailureThreshold: breaker.FailureThreshold,
				OpenTimeout:      breaker.OpenTimeout,
				HalfOpenProbes:   breaker.HalfOpenProbes,
			},
			PoisonPolicy:     relay.Continue.String(),
			MaxInFlight:      actors.DefaultMaxInFlight,
			DrainTimeout:     actors.DefaultDrainTimeout,
			ProgressInterval: actors.DefaultProgressInterval,
			DLQRefresh:       actors.DefaultDLQRefresh,
		},
		CDC: config.CDCSettings{Profile: config.ProfileDefault},
		Polling: config.PollingSettings{
			Interval:     actors.DefaultPollInterval,
			SafetyWindow: actors.DefaultSafetyWindow,
			Batch:        actors.DefaultPollBatch,
		},
		Schema: config.SchemaSettings{
			CDCLogTTL: schema.DefaultCDCLogTTL,
			OutboxTTL: schema.DefaultOutboxTTL,
		},
		HTTP: config.HTTPSettings{Listen: DefaultHTTPListen},
		Log:  config.LogSettings{Level: "info", Format: "console"},
	}
}

// NewSettings turns a configuration into the components' configurations:
// the one place where a setting meets its component. It runs cfg.Validate
// (the settings' own rules) and then each component's Validate, reporting
// every problem as one line naming the setting ("config: <key>: ..."),
// joined; errors.Is(err, ErrInvalidSettings) holds for them.
func NewSettings(cfg config.Config, logger *zap.Logger) (Settings, error) {
	if err := cfg.Validate(); err != nil {
		return Settings{}, fmt.Errorf("%w: %w", ErrInvalidSettings, err)
	}
	var p problems
	s := Settings{
		Storage:    toStorage(cfg),
		Messaging:  toMessaging(cfg),
		Schema:     toSchema(cfg),
		HTTPListen: cfg.HTTP.Listen,
		Logger:     logger,
	}
	p.component("scylla", s.Storage.Validate(), "storage: config: ")
	p.messaging(s.Messaging.Validate())
	p.component("schema", s.Schema.Validate(), "schema: ")
	var err error
	if s.Relay, err = toRelay(cfg); err != nil {
		p = append(p, err)
	}
	s.Relay.Logger = logger
	if logger != nil {
		s.Storage.DriverLog = logger.Named("gocql")
	}
	if len(p) > 0 {
		return Settings{}, fmt.Errorf("%w: %w", ErrInvalidSettings, errors.Join(p...))
	}
	return s, nil
}

// problems collects the components' findings, one line each.
type problems []error

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, fmt.Errorf("config: %s: %s", key, fmt.Sprintf(format, args...)))
}

// component reports a component's own rule under its section.
func (p *problems) component(section string, err error, prefix string) {
	for _, e := range unjoin(err) {
		p.add(section, "%s", strings.TrimPrefix(e.Error(), prefix))
	}
}

// messaging reports messaging's findings under the settings its fields
// come from.
func (p *problems) messaging(err error) {
	for _, e := range unjoin(err) {
		var ce *messaging.ConfigError
		if !errors.As(e, &ce) {
			p.add("kafka", "%v", e)
			continue
		}
		p.add(kafkaKey(ce.Field), "%s", ce.Reason)
	}
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err != nil {
		return []error{err}
	}
	return nil
}

// kafkaKey maps a messaging.Config field to its setting.
func kafkaKey(field string) string {
	switch {
	case field == "ClientID":
		return "kafka.client_id"
	case field == "TopicTemplate":
		return "kafka.topic_template"
	case field == "Timeout":
		return "kafka.timeout"
	case field == "DeliveryTimeout":
		return "kafka.delivery_timeout"
	case field == "Linger":
		return "kafka.linger"
	case field == "MaxMessageBytes":
		return "kafka.max_message_bytes"
	case field == "SASL.Mechanism":
		return "kafka.sasl.mechanism"
	case field == "SASL.User":
		return "kafka.sasl.user"
	case field == "SASL.Password":
		return "kafka.sasl.password"
	case field == "TLS.CAFile":
		return "kafka.tls.ca_file"
	case field == "TLS.CertFile":
		return "kafka.tls.cert_file"
	case strings.HasPrefix(field, "Brokers"):
		return "kafka.brokers"
	case strings.HasPrefix(field, "TLS"):
		return "kafka.tls"
	}
	return "kafka"
}

// scyllaKey maps a storage.Config field to its setting.
func scyllaKey(field string) string {
	switch {
	case field == "Username":
		return "scylla.username"
	case field == "Password":
		return "scylla.password"
	case field == "TLS.CAFile":
		return "scylla.tls.ca_file"
	case field == "TLS.CertFile":
		return "scylla.tls.cert_file"
	case strings.HasPrefix(field, "Hosts"):
		return "scylla.hosts"
	case strings.HasPrefix(field, "TLS"):
		return "scylla.tls"
	}
	return "scylla"
}

// toStorage is the ScyllaDB connection. Its Keyspace is the session's
// default keyspace, which must exist: migrate, which may create it, clears
// Keyspace for its own session.
func toStorage(c config.Config) storage.Config {
	s := c.Scylla
	sc := storage.Config{
		Hosts:          append([]string(nil), s.Hosts...),
		Keyspace:       s.Keyspace,
		Consistency:    s.Consistency,
		Timeout:        s.Timeout,
		ConnectTimeout: s.ConnectTimeout,
		LocalDC:        s.LocalDC,
		Username:       s.Username,
		Password:       password(s.Password, s.PasswordFile),
	}
	if s.TLS.On() {
		sc.TLS = &storage.TLSConfig{CAFile: s.TLS.CAFile, CertFile: s.TLS.CertFile, KeyFile: s.TLS.KeyFile, InsecureSkipVerify: s.TLS.InsecureSkipVerify}
	}
	return sc
}

// toMessaging is the Kafka publisher's configuration.
func toMessaging(c config.Config) messaging.Config {
	k := c.Kafka
	mc := messaging.Config{
		Brokers:         append([]string(nil), k.Brokers...),
		ClientID:        k.ClientID,
		TopicTemplate:   k.TopicTemplate,
		MaxMessageBytes: k.MaxMessageBytes,
		Timeout:         k.Timeout,
		DeliveryTimeout: k.DeliveryTimeout,
		Linger:          k.Linger,
	}
	if k.TLS.On() {
		mc.TLS = &messaging.TLSConfig{CAFile: k.TLS.CAFile, CertFile: k.TLS.CertFile, KeyFile: k.TLS.KeyFile, InsecureSkipVerify: k.TLS.InsecureSkipVerify}
	}
	if k.SASL.User != "" || k.SASL.Password != "" || k.SASL.PasswordFile != "" {
		mc.SASL = &messaging.SASLConfig{Mechanism: k.SASL.Mechanism, User: k.SASL.User, Password: password(k.SASL.Password, k.SASL.PasswordFile)}
	}
	return mc
}

// password is a password setting's value: the setting itself, or the
// contents of its file setting (Validate reported a file it cannot read).
func password(value, file string) string {
	if file == "" {
		return value
	}
	s, _ := config.ReadSecretFile(file)
	return s
}

// toRelay is the relay: processor, retries, breaker, policy, windows.
// Its components' rules are checked where they are built.
func toRelay(c config.Config) (RelayConfig, error) {
	var p problems
	r := c.Relay
	retry := resilience.RetryPolicy{MaxAttempts: r.MaxAttempts, InitialBackoff: r.InitialBackoff, MaxBackoff: r.MaxBackoff, Multiplier: r.Multiplier, Jitter: r.Jitter}
	if r.RetryPreset != config.PresetCustom {
		// A custom field changed under a named preset would be silently
		// ignored; say so instead.
		def := DefaultConfig().Relay
		for _, f := range []struct {
			key     string
			changed bool
		}{
			{"relay.max_attempts", r.MaxAttempts != def.MaxAttempts},
			{"relay.initial_backoff", r.InitialBackoff != def.InitialBackoff},
			{"relay.max_backoff", r.MaxBackoff != def.MaxBackoff},
			{"relay.multiplier", r.Multiplier != def.Multiplier},
			{"relay.jitter", r.Jitter != def.Jitter},
		} {
			if f.changed {
				p.add(f.key, "is used only with relay.retry_preset custom, but the preset is %q", r.RetryPreset)
			}
		}
		var err error
		if retry, err = resilience.RetryPreset(r.RetryPreset); err != nil {
			p.add("relay.retry_preset", "%v", err)
		}
	}
	p.component("relay", retry.Validate(), "resilience: ")
	breaker := resilience.BreakerConfig{FailureThreshold: r.Breaker.FailureThreshold, OpenTimeout: r.Breaker.OpenTimeout, HalfOpenProbes: r.Breaker.HalfOpenProbes}
	p.component("relay.breaker", breaker.Validate(), "resilience: ")
	policy, err := relay.ParsePolicy(r.PoisonPolicy)
	if err != nil {
		p.add("relay.poison_policy", "%v", err)
	}
	consistency, err := gocql.ParseConsistencyWrapper(c.Scylla.Consistency)
	if err != nil {
		p.add("scylla.consistency", "%v", err)
	}
	rc := RelayConfig{
		Processor: c.Processor,
		Keyspace:  c.Scylla.Keyspace,
		Name:      r.Name,
		Election: messaging.ElectionConfig{Group: electionGroup(r.Name), Topic: r.Election.Topic, Member: r.Member,
			SessionTimeout: r.Election.SessionTimeout, HeartbeatInterval: r.Election.HeartbeatInterval},
		Processing: actors.ProcessorConfig{
			Retry:            retry,
			Breaker:          breaker,
			Policy:           policy,
			MaxInFlight:      r.MaxInFlight,
			DrainTimeout:     r.DrainTimeout,
			ProgressInterval: r.ProgressInterval,
			DLQRefresh:       r.DLQRefresh,
		},
		CDC:            toReader(c),
		CDCProgressTTL: c.CDC.ProgressTTL,
		Polling:        toPolling(c),
		Consistency:    consistency,
		WriteTimeout:   c.Scylla.Timeout,
	}
	// The relay names the tables when it starts; the windows are the
	// settings' part.
	named := rc.CDC
	named.Keyspace, named.Table = rc.Keyspace, schema.TableOutboxMessages
	p.component("cdc", named.Validate(), "cdc: ")
	for _, e := range unjoin(rc.Election.Validate()) {
		var ce *messaging.ElectionConfigError
		if errors.As(e, &ce) {
			p.add(electionKey(ce.Field), "%s", ce.Reason)
			continue
		}
		p.add("relay.election", "%v", e)
	}
	return rc, errors.Join(p...)
}

// electionGroup is the Kafka group of the relays named name.
func electionGroup(name string) string { return "scylla-outbox." + name }

// electionKey maps a messaging.ElectionConfig field to its setting.
func electionKey(field string) string {
	switch field {
	case "Topic":
		return "relay.election.topic"
	case "SessionTimeout":
		return "relay.election.session_timeout"
	case "HeartbeatInterval":
		return "relay.election.heartbeat_interval"
	case "Member":
		return "relay.member"
	case "Group":
		return "relay.name"
	}
	return "relay.election"
}

// toReader is the CDC reader's windows: the profile's, overridden by
// every non-zero window setting, plus the start time. The relay fills in
// keyspace, table and consistency.
func toReader(c config.Config) cdc.ReaderConfig {
	s := c.CDC
	var rc cdc.ReaderConfig
	if s.Profile == config.ProfileLowLatency {
		rc = cdc.LowLatency(rc)
	}
	for _, o := range []struct {
		dst *time.Duration
		v   time.Duration
	}{
		{&rc.ConfidenceWindow, s.ConfidenceWindow},
		{&rc.QueryWindow, s.QueryWindow},
		{&rc.PostNonEmptyQueryDelay, s.PostNonEmptyQueryDelay},
		{&rc.PostEmptyQueryDelay, s.PostEmptyQueryDelay},
		{&rc.PostFailedQueryDelay, s.PostFailedQueryDelay},
		{&rc.ChangeAgeLimit, s.ChangeAgeLimit},
	} {
		if o.v != 0 {
			*o.dst = o.v
		}
	}
	rc.StartFrom, _ = config.ParseTime(s.StartFrom) // Validate reported a bad one
	return rc
}

// StartNotes says what each setting of cfg left at zero, which a CDC
// profile or a component resolves only when the relay starts, becomes
// then; --print-config prints them beside the zeros. Keyed by setting.
func StartNotes(cfg config.Config) map[string]string {
	notes := map[string]string{}
	rc := toReader(cfg).Resolved()
	for _, w := range []struct {
		key           string
		set, resolved time.Duration
	}{
		{"cdc.confidence_window", cfg.CDC.ConfidenceWindow, rc.ConfidenceWindow},
		{"cdc.query_window", cfg.CDC.QueryWindow, rc.QueryWindow},
		{"cdc.post_non_empty_query_delay", cfg.CDC.PostNonEmptyQueryDelay, rc.PostNonEmptyQueryDelay},
		{"cdc.post_empty_query_delay", cfg.CDC.PostEmptyQueryDelay, rc.PostEmptyQueryDelay},
		{"cdc.post_failed_query_delay", cfg.CDC.PostFailedQueryDelay, rc.PostFailedQueryDelay},
		{"cdc.change_age_limit", cfg.CDC.ChangeAgeLimit, rc.ChangeAgeLimit},
		{"cdc.progress_ttl", cfg.CDC.ProgressTTL, storage.DefaultStreamProgressTTL},
	} {
		if w.set == 0 {
			notes[w.key] = "at start: " + w.resolved.String()
		}
	}
	if cfg.Relay.Member == "" {
		notes["relay.member"] = "at start: <hostname>:<pid> of the relay"
	}
	return notes
}

// toPolling is the polling processor's windows; the relay fills in the
// store and the name.
func toPolling(c config.Config) actors.PollingSource {
	p := c.Polling
	start, _ := config.ParseTime(p.StartFrom) // Validate reported a bad one
	return actors.PollingSource{Interval: p.Interval, SafetyWindow: p.SafetyWindow, Batch: p.Batch, StartFrom: start}
}

// toSchema is what migrate applies. A TTL of 0 means "forever" here,
// as in CQL, whereas schema.Options reserves 0 for its default; there is no
// forgotten-setting risk to guard against because DefaultConfig fills
// every TTL. Replication is SimpleStrategy, or NetworkTopologyStrategy in
// scylla.local_dc when that is set, since SimpleStrategy ignores data
// centres and is unsuitable for a multi-DC cluster. Tablets need
// NetworkTopologyStrategy, which without a local DC takes the factor for
// every data centre (its replication_factor option).
func toSchema(c config.Config) schema.Options {
	ttl := func(d time.Duration) time.Duration {
		if d == 0 {
			return schema.NoTTL
		}
		return d
	}
	rf := strconv.Itoa(c.Scylla.ReplicationFactor)
	repl := map[string]string{"class": "SimpleStrategy", "replication_factor": rf}
	switch {
	case c.Scylla.LocalDC != "":
		repl = map[string]string{"class": "NetworkTopologyStrategy", c.Scylla.LocalDC: rf}
	case c.Schema.Tablets:
		repl = map[string]string{"class": "NetworkTopologyStrategy", "replication_factor": rf}
	}
	return schema.Options{
		Keyspace:      c.Scylla.Keyspace,
		Replication:   repl,
		Tablets:       c.Schema.Tablets,
		CDCLogTTL:     ttl(c.Schema.CDCLogTTL),
		OutboxTTL:     ttl(c.Schema.OutboxTTL),
		DeadLetterTTL: ttl(c.Schema.DeadLetterTTL),
	}
}
