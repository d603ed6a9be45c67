package messaging

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

// Defaults applied by [Config] to zero-valued fields.
const (
	// DefaultClientID is the Kafka client.id the relay identifies with in
	// broker logs and quotas.
	DefaultClientID = "scylla-outbox-relay"
	// DefaultBroker is the bootstrap broker a configuration starts from.
	DefaultBroker = "127.0.0.1:9092"
	// DefaultTopicTemplate routes each event to a topic per aggregate type,
	// as Debezium's outbox event router does ("outbox.event.<type>").
	DefaultTopicTemplate = "outbox.event.{{.AggregateType}}"
	// DefaultKafkaVersion is the protocol version the producer speaks. 2.8
	// is sarama's fully covered version and is understood by every broker
	// the relay targets (Kafka 2.8+, Redpanda, kfake).
	DefaultKafkaVersion = "2.8.0"
	// DefaultMaxMessageBytes is the producer-side record limit, matching
	// the broker default message.max.bytes (1 MiB plus batch overhead).
	DefaultMaxMessageBytes = 1 << 20
	// DefaultTimeout bounds one broker request (dial, write, read).
	DefaultTimeout = 10 * time.Second
	// DefaultDeliveryTimeout is the producer's own retry budget for a
	// batch (see [Config.DeliveryTimeout]). Ten seconds rides out a
	// leader election or a dropped connection without surfacing it, and
	// keeps a graceful stop (drain, then close) within a typical 30 s
	// termination grace period.
	DefaultDeliveryTimeout = 10 * time.Second
	// DefaultLinger is the batching delay the relay's configuration
	// starts from (see [Config.Linger]): Kafka's own linger.ms default
	// since Apache Kafka 4.0 (KIP-1030, up from 0), a few milliseconds
	// of latency for batches that cost the broker far less per record.
	DefaultLinger = 5 * time.Millisecond
	// maxLinger bounds [Config.Linger]: beyond it the delay, added to
	// every event's latency, buys nothing more.
	maxLinger = time.Second

	// minTimeout keeps the broker-side produce timeout, derived from
	// Timeout and sent in milliseconds, meaningfully above zero.
	minTimeout = 10 * time.Millisecond
)

// The producer's retry schedule: sarama waits retryBackoff(n) before retry
// n of a batch, 100 ms doubling to at most 1 s, as Java's retry.backoff.ms
// and retry.backoff.max.ms do by default. [Config.DeliveryTimeout] decides
// how many retries that allows (see producerRetries).
const (
	retryBackoffMin = 100 * time.Millisecond
	retryBackoffMax = time.Second
)

// retryBackoff is sarama's wait before retry n (1 for the first). sarama
// also calls it with 0 when it fails a record it could not route, before
// looking at the next one.
func retryBackoff(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	if n > 8 { // long past the cap; and a large shift would overflow
		return retryBackoffMax
	}
	return min(retryBackoffMin<<(n-1), retryBackoffMax)
}

// producerRetries is the number of retries whose waits add up to window: the
// smallest n with retryBackoff(1)+…+retryBackoff(n) >= window, at least 1.
func producerRetries(window time.Duration) int {
	n := 1
	for total := retryBackoff(1); total < window; total += retryBackoff(n) {
		n++
	}
	return n
}

// minKafkaVersion is the oldest protocol version with record headers and the
// idempotent producer, both of which the publisher requires.
var minKafkaVersion = sarama.V0_11_0_0

// validClientID mirrors sarama's (and Kafka's pre-1.0) client.id rule, so a
// bad id is reported against Config.ClientID rather than from deep inside
// sarama.
var validClientID = regexp.MustCompile(`\A[A-Za-z0-9._-]+\z`)

// ErrInvalidConfig is wrapped by every error [Config.Validate] returns.
var ErrInvalidConfig = errors.New("messaging: invalid config")

// ConfigError reports one invalid [Config] field. Field is the Go path of the
// field, for example "SASL.User" or "Brokers[2]".
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string {
	return "messaging: invalid Config." + e.Field + ": " + e.Reason
}

// Unwrap returns [ErrInvalidConfig], so errors.Is(err, ErrInvalidConfig)
// holds for every validation failure.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

// Config configures a [Publisher]. The zero value of every field except
// Brokers selects the documented default; [Config.Validate] reports the
// fields that cannot work.
type Config struct {
	// Brokers are the bootstrap addresses ("host:port"). The producer
	// discovers the rest of the cluster from them. Required.
	Brokers []string

	// ClientID is the Kafka client.id (default [DefaultClientID]). It may
	// contain ASCII letters, digits, '.', '_' and '-'.
	ClientID string

	// TopicTemplate is a text/template rendered against each
	// [outbox.Record] to choose its topic (default [DefaultTopicTemplate]).
	// Any Record field may be used, for example {{.AggregateType}} or
	// {{.EventType}}, together with the functions lower, upper and replace
	// (strings.ToLower, strings.ToUpper, strings.ReplaceAll). The template
	// is parsed once; a rendering error or a result that is not a legal
	// Kafka topic name fails that record with a Permanent error.
	TopicTemplate string

	// KafkaVersion is the broker protocol version to speak, as
	// "major.minor.patch" (default [DefaultKafkaVersion]). It must be at
	// least 0.11.0, the first with headers and idempotent producers.
	KafkaVersion string

	// MaxMessageBytes is the producer-side size limit of one record and
	// of one request batch (default [DefaultMaxMessageBytes]). Set it to at
	// most the broker's or topic's max.message.bytes: an oversized record
	// is then rejected on its own before it is sent. If the broker's limit
	// is lower, the broker rejects whole batches; the publisher resends
	// the rejected records one at a time to tell the oversized record from
	// its innocent batch mates, which costs latency.
	MaxMessageBytes int

	// Timeout bounds one broker request: it is the dial, write and read
	// deadline and the metadata refresh budget, and three quarters of it is
	// the broker-side acks wait (so the broker answers before the client
	// gives up). Default [DefaultTimeout]; at least 10ms.
	Timeout time.Duration

	// DeliveryTimeout is how long the producer itself keeps retrying a
	// batch whose send failed with a retriable error — a timeout, a reset
	// connection, a leader change, NOT_ENOUGH_REPLICAS — before it reports
	// the failure (default [DefaultDeliveryTimeout]; at least 100ms). It
	// plays the part of Java's delivery.timeout.ms. Inside the window a
	// retry resends the same batch with the same producer id, epoch and
	// sequence numbers, so a broker that had appended the first attempt
	// (its answer was lost) recognises the retry as a duplicate: no copy
	// is written twice. A failure reported after the window, by contrast,
	// is retried by the caller as a new record, which the broker cannot
	// deduplicate ([IsAmbiguous] tells which failures may leave a copy
	// behind).
	//
	// Precisely, DeliveryTimeout is the sum of the waits between attempts
	// (100 ms doubling to 1 s), from which the number of retries is
	// derived; the attempts add their own time: next to nothing when the
	// broker answers with an error or refuses the connection, up to
	// Timeout each when they time out. The window ends early when sarama
	// cannot find the partition's leader any more (no broker answers a
	// metadata request): a broker outage therefore surfaces after about
	// 3 × Timeout at most, and at once when connections are refused.
	//
	// The caller's circuit breaker sees a failure only after the window,
	// and records of a partition wait behind a batch being retried, so a
	// longer window trades duplicates for later outage detection and a
	// longer [Publisher.Close] when the broker misbehaves.
	DeliveryTimeout time.Duration

	// Linger is how long the producer waits for more records before it
	// sends a batch (Java's linger.ms; zero, unlike the other fields,
	// means no wait: every batch leaves as soon as the request before it
	// is answered). With one request in flight per broker (what keeps an
	// aggregate's order), a batch otherwise holds only what arrived
	// during the previous round trip, a handful of records when the
	// broker is close: each costs the broker a request, an append and
	// its fetchers a read. A few milliseconds turn a drain into batches
	// of hundreds, for that much more latency per event. At most 1s. A
	// batch that reaches MaxMessageBytes leaves at once.
	Linger time.Duration

	// TLS enables TLS to the brokers when non-nil.
	TLS *TLSConfig

	// SASL enables SASL authentication when non-nil.
	SASL *SASLConfig
}

// TLSConfig configures TLS to the brokers. The zero value verifies the
// broker against the system roots.
type TLSConfig struct {
	// CAFile is a PEM bundle of roots to trust instead of the system roots.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and key for
	// mutual TLS; set both or neither.
	CertFile string
	KeyFile  string
	// ServerName overrides the name verified in the broker certificate.
	ServerName string
	// InsecureSkipVerify disables certificate verification. For local
	// testing only.
	InsecureSkipVerify bool
}

// The supported [SASLConfig.Mechanism]s. PLAIN sends the password itself,
// in clear text unless TLS is on; SCRAM (RFC 5802, Kafka's KIP-84) proves
// knowledge of it without sending it, and is what Redpanda, Amazon MSK and
// self-run Kafka clusters mostly use.
const (
	SASLMechanismPlain       = "PLAIN"
	SASLMechanismSCRAMSHA256 = "SCRAM-SHA-256"
	SASLMechanismSCRAMSHA512 = "SCRAM-SHA-512"
)

// SASLConfig configures SASL authentication.
type SASLConfig struct {
	// Mechanism is one of [SASLMechanismPlain] (the default when empty),
	// [SASLMechanismSCRAMSHA256] and [SASLMechanismSCRAMSHA512].
	Mechanism string
	// User and Password are required.
	User     string
	Password string
}

// withDefaults returns c with every zero-valued optional field set to its
// default.
func (c Config) withDefaults() Config {
	if c.ClientID == "" {
		c.ClientID = DefaultClientID
	}
	if c.TopicTemplate == "" {
		c.TopicTemplate = DefaultTopicTemplate
	}
	if c.KafkaVersion == "" {
		c.KafkaVersion = DefaultKafkaVersion
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.DeliveryTimeout == 0 {
		c.DeliveryTimeout = DefaultDeliveryTimeout
	}
	if c.SASL != nil && c.SASL.Mechanism == "" {
		s := *c.SASL
		s.Mechanism = SASLMechanismPlain
		c.SASL = &s
	}
	return c
}

// Validate reports every field of c (after defaults) that cannot work, as
// [*ConfigError]s joined with [errors.Join]; each wraps [ErrInvalidConfig].
// It performs no I/O: TLS files are read by [NewPublisher].
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)})
	}

	if len(c.Brokers) == 0 {
		bad("Brokers", "at least one broker address is required")
	}
	for i, addr := range c.Brokers {
		if err := checkHostPort(addr); err != nil {
			bad("Brokers["+strconv.Itoa(i)+"]", "%q: %v", addr, err)
		}
	}
	if !validClientID.MatchString(c.ClientID) {
		bad("ClientID", "%q: only ASCII letters, digits, '.', '_' and '-' are allowed", c.ClientID)
	}
	if _, err := newTopicRouter(c.TopicTemplate); err != nil {
		bad("TopicTemplate", "%v", err)
	}
	if v, err := sarama.ParseKafkaVersion(c.KafkaVersion); err != nil {
		bad("KafkaVersion", "%q is not a version like %q", c.KafkaVersion, DefaultKafkaVersion)
	} else if !v.IsAtLeast(minKafkaVersion) {
		bad("KafkaVersion", "%q is older than %s, the first version with headers and idempotent producers", c.KafkaVersion, minKafkaVersion)
	}
	if c.MaxMessageBytes < 0 {
		bad("MaxMessageBytes", "must not be negative, got %d", c.MaxMessageBytes)
	}
	if c.Timeout < minTimeout {
		bad("Timeout", "must be at least %s, got %s", minTimeout, c.Timeout)
	}
	if c.Linger < 0 || c.Linger > maxLinger {
		bad("Linger", "must be between 0 and %s, got %s", maxLinger, c.Linger)
	}
	if c.DeliveryTimeout < retryBackoffMin {
		bad("DeliveryTimeout", "must be at least %s, got %s", retryBackoffMin, c.DeliveryTimeout)
	}
	if t := c.TLS; t != nil && (t.CertFile == "") != (t.KeyFile == "") {
		bad("TLS", "CertFile and KeyFile must be set together")
	}
	if s := c.SASL; s != nil {
		switch s.Mechanism {
		case SASLMechanismPlain, SASLMechanismSCRAMSHA256, SASLMechanismSCRAMSHA512:
		default:
			bad("SASL.Mechanism", "%q is not supported (want %s, %s or %s)", s.Mechanism,
				SASLMechanismPlain, SASLMechanismSCRAMSHA256, SASLMechanismSCRAMSHA512)
		}
		if s.User == "" {
			bad("SASL.User", "must not be empty")
		}
		if s.Password == "" {
			bad("SASL.Password", "must not be empty")
		}
	}
	return errors.Join(errs...)
}

func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("not host:port")
	}
	if host == "" {
		return errors.New("empty host")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return errors.New("port must be 1..65535")
	}
	return nil
}

// ProducerConfig is the sarama configuration a [Publisher] built from c
// produces with, for tools that must produce exactly as the relay does
// (the benchmark's raw-producer baseline). Errors are [Config.Validate]'s.
func (c Config) ProducerConfig() (*sarama.Config, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c.withDefaults().producerConfig()
}

// producerConfig is [Config.saramaConfig] plus the producer's settings.
func (c Config) producerConfig() (*sarama.Config, error) {
	sc, err := c.saramaConfig()
	if err != nil {
		return nil, err
	}
	// Ordering under retries: with more than one request in flight a
	// retried batch could land behind a later one. Idempotence lets the
	// broker drop the duplicates that retries create and requires acks
	// from all in-sync replicas.
	sc.Net.MaxOpenRequests = 1
	sc.Producer.Idempotent = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	// The key is the aggregate id, so hashing it keeps an aggregate on one
	// partition. (sarama hashes with FNV-1a, not Java's murmur2: a Java
	// producer writing the same keys would choose other partitions.)
	sc.Producer.Partitioner = sarama.NewHashPartitioner
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	// sarama retries a failed batch itself, unchanged (same producer id,
	// epoch and sequence numbers), so the broker drops a retry of a batch
	// it had appended. When the retries run out it fails the batch and
	// bumps the epoch, restarting every partition's sequence at 0: the
	// caller's retry is then a new record the broker cannot match against
	// the first. Hence a retry budget long enough for common hiccups; see
	// Config.DeliveryTimeout.
	sc.Producer.Retry.Max = producerRetries(c.DeliveryTimeout)
	sc.Producer.Retry.Backoff = retryBackoffMin
	sc.Producer.Retry.BackoffFunc = func(retries, _ int) time.Duration { return retryBackoff(retries) }
	// InitProducerID runs once per connection attempt; sarama's default of
	// 50 retries would hold a connection attempt (and Publisher.Close) for
	// minutes when the broker vanishes right after the metadata request.
	// The publisher retries the whole connection instead.
	sc.Producer.Transaction.Retry.Max = 2
	sc.Producer.Transaction.Retry.Backoff = retryBackoffMin
	sc.Producer.MaxMessageBytes = c.MaxMessageBytes
	// Frequency alone, no size trigger: a batch leaves when the linger
	// ends or when it would outgrow MaxMessageBytes, as Java's batch.size
	// makes it leave when full.
	sc.Producer.Flush.Frequency = c.Linger
	sc.Producer.Timeout = c.Timeout * 3 / 4
	// sarama asks the broker to auto-create unknown topics; brokers that
	// allow it (Kafka's default) then behave as Debezium users expect,
	// and brokers that do not answer UnknownTopicOrPartition, which is
	// Permanent (see Classify).
	sc.Metadata.AllowAutoTopicCreation = true
	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("messaging: sarama rejected the derived producer config: %w", err)
	}
	return sc, nil
}

// saramaConfig builds the settings every sarama client of the package
// shares — protocol version, client id, timeouts, TLS and SASL — from a
// validated, defaulted c; [Config.producerConfig] and the [Elector] add
// their own on top. Every setting that matters for correctness is spelled
// out here instead of relying on sarama's defaults, which have changed
// between releases.
func (c Config) saramaConfig() (*sarama.Config, error) {
	version, err := sarama.ParseKafkaVersion(c.KafkaVersion)
	if err != nil {
		return nil, &ConfigError{Field: "KafkaVersion", Reason: err.Error()}
	}
	sc := sarama.NewConfig()
	sc.ClientID = c.ClientID
	sc.Version = version

	sc.Net.DialTimeout = c.Timeout
	sc.Net.ReadTimeout = c.Timeout
	sc.Net.WriteTimeout = c.Timeout
	// Bound a whole metadata refresh (all its retries), or a dead cluster
	// keeps a client in metadata retries for minutes.
	sc.Metadata.Timeout = c.Timeout

	if err := c.applySecurity(sc); err != nil {
		return nil, err
	}
	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("messaging: sarama rejected the derived config: %w", err)
	}
	return sc, nil
}

func (t *TLSConfig) build() (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // opt-in, documented as test-only
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, &ConfigError{Field: "TLS.CAFile", Reason: err.Error()}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &ConfigError{Field: "TLS.CAFile", Reason: "no PEM certificates in " + strings.TrimSpace(t.CAFile)}
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, &ConfigError{Field: "TLS.CertFile", Reason: err.Error()}
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
