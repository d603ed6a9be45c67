package messaging

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func TestConfigValidate(t *testing.T) {
	ok := Config{Brokers: []string{"localhost:9092"}}
	tests := []struct {
		name   string
		mutate func(*Config)
		// fields are the Config fields the error must name; none means valid.
		fields []string
	}{
		{"defaults", func(*Config) {}, nil},
		{"everything set", func(c *Config) {
			c.Brokers = []string{"kafka-1:9092", "10.0.0.2:9093", "[::1]:9094"}
			c.ClientID = "relay-1"
			c.TopicTemplate = "events.{{lower .AggregateType}}"
			c.KafkaVersion = "3.6.0"
			c.MaxMessageBytes = 4 << 20
			c.Timeout = time.Second
			c.TLS = &TLSConfig{CertFile: "c.pem", KeyFile: "k.pem"}
			c.SASL = &SASLConfig{User: "u", Password: "p"}
		}, nil},
		{"constant topic", func(c *Config) { c.TopicTemplate = "all-events" }, nil},
		{"oldest allowed version", func(c *Config) { c.KafkaVersion = "0.11.0.0" }, nil},
		{"no brokers", func(c *Config) { c.Brokers = nil }, []string{"Brokers"}},
		{"broker without port", func(c *Config) { c.Brokers = []string{"ok:1", "kafka"} }, []string{"Brokers[1]"}},
		{"broker bad port", func(c *Config) { c.Brokers = []string{"kafka:99999"} }, []string{"Brokers[0]"}},
		{"broker empty host", func(c *Config) { c.Brokers = []string{":9092"} }, []string{"Brokers[0]"}},
		{"client id", func(c *Config) { c.ClientID = "relay 1" }, []string{"ClientID"}},
		{"template syntax", func(c *Config) { c.TopicTemplate = "outbox.{{.AggregateType" }, []string{"TopicTemplate"}},
		{"template unknown field", func(c *Config) { c.TopicTemplate = "outbox.{{.Nope}}" }, []string{"TopicTemplate"}},
		{"template unknown func", func(c *Config) { c.TopicTemplate = "outbox.{{snake .AggregateType}}" }, []string{"TopicTemplate"}},
		{"constant topic illegal", func(c *Config) { c.TopicTemplate = "outbox events" }, []string{"TopicTemplate"}},
		{"version syntax", func(c *Config) { c.KafkaVersion = "latest" }, []string{"KafkaVersion"}},
		{"version too old", func(c *Config) { c.KafkaVersion = "0.10.2.0" }, []string{"KafkaVersion"}},
		{"negative max bytes", func(c *Config) { c.MaxMessageBytes = -1 }, []string{"MaxMessageBytes"}},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, []string{"Timeout"}},
		{"tiny timeout", func(c *Config) { c.Timeout = time.Millisecond }, []string{"Timeout"}},
		{"negative delivery timeout", func(c *Config) { c.DeliveryTimeout = -time.Second }, []string{"DeliveryTimeout"}},
		{"tiny delivery timeout", func(c *Config) { c.DeliveryTimeout = 10 * time.Millisecond }, []string{"DeliveryTimeout"}},
		{"shortest delivery timeout", func(c *Config) { c.DeliveryTimeout = 100 * time.Millisecond }, nil},
		{"no linger", func(c *Config) { c.Linger = 0 }, nil},
		{"longest linger", func(c *Config) { c.Linger = time.Second }, nil},
		{"negative linger", func(c *Config) { c.Linger = -time.Millisecond }, []string{"Linger"}},
		{"linger beyond a second", func(c *Config) { c.Linger = time.Second + time.Millisecond }, []string{"Linger"}},
		{"tls cert without key", func(c *Config) { c.TLS = &TLSConfig{CertFile: "c.pem"} }, []string{"TLS"}},
		{"sasl SCRAM-SHA-256", func(c *Config) { c.SASL = &SASLConfig{Mechanism: "SCRAM-SHA-256", User: "u", Password: "p"} }, nil},
		{"sasl SCRAM-SHA-512", func(c *Config) { c.SASL = &SASLConfig{Mechanism: "SCRAM-SHA-512", User: "u", Password: "p"} }, nil},
		{"sasl mechanism", func(c *Config) { c.SASL = &SASLConfig{Mechanism: "GSSAPI", User: "u", Password: "p"} }, []string{"SASL.Mechanism"}},
		{"sasl mechanism in lower case", func(c *Config) { c.SASL = &SASLConfig{Mechanism: "scram-sha-256", User: "u", Password: "p"} }, []string{"SASL.Mechanism"}},
		{"sasl missing credentials", func(c *Config) { c.SASL = &SASLConfig{} }, []string{"SASL.User", "SASL.Password"}},
		{"several at once", func(c *Config) { c.Brokers = nil; c.Timeout = -1 }, []string{"Brokers", "Timeout"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mutate(&c)
			err := c.Validate()
			if len(tc.fields) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				if _, err := c.withDefaults().producerConfig(); err != nil && c.TLS == nil {
					t.Fatalf("valid config rejected by sarama: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig", err)
			}
			for _, f := range tc.fields {
				if !strings.Contains(err.Error(), "Config."+f+":") {
					t.Errorf("Validate() = %q, want it to name Config.%s", err, f)
				}
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tc.fields[0] {
				t.Errorf("first *ConfigError = %+v, want Field %q", ce, tc.fields[0])
			}
		})
	}
}

func TestConfigDefaultsAndSarama(t *testing.T) {
	c := Config{Brokers: []string{"localhost:9092"}, SASL: &SASLConfig{User: "u", Password: "p"}}.withDefaults()
	if c.ClientID != DefaultClientID || c.TopicTemplate != DefaultTopicTemplate || c.KafkaVersion != DefaultKafkaVersion ||
		c.MaxMessageBytes != DefaultMaxMessageBytes || c.Timeout != DefaultTimeout || c.SASL.Mechanism != SASLMechanismPlain ||
		c.DeliveryTimeout != DefaultDeliveryTimeout {
		t.Fatalf("defaults not applied: %+v", c)
	}
	sc, err := c.producerConfig()
	if err != nil {
		t.Fatal(err)
	}
	// The ordering contract: pin it so nobody "tunes" it away.
	switch {
	case !sc.Producer.Idempotent,
		sc.Producer.RequiredAcks != sarama.WaitForAll,
		sc.Net.MaxOpenRequests != 1,
		!sc.Version.IsAtLeast(sarama.V0_11_0_0),
		sc.Version != sarama.V2_8_0_0,
		!sc.Producer.Return.Successes || !sc.Producer.Return.Errors,
		sc.Producer.Retry.Max != producerRetries(DefaultDeliveryTimeout),
		sc.Producer.Retry.BackoffFunc == nil,
		sc.Producer.MaxMessageBytes != DefaultMaxMessageBytes,
		sc.Producer.Timeout >= sc.Net.ReadTimeout,
		!sc.Net.SASL.Enable || sc.Net.SASL.Mechanism != sarama.SASLTypePlaintext:
		t.Errorf("sarama config does not match the contract: %+v", sc.Producer)
	}
	for _, m := range []string{SASLMechanismSCRAMSHA256, SASLMechanismSCRAMSHA512} {
		c.SASL = &SASLConfig{Mechanism: m, User: "u", Password: "p"}
		sc, err := c.saramaConfig()
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		if string(sc.Net.SASL.Mechanism) != m || sc.Net.SASL.SCRAMClientGeneratorFunc == nil {
			t.Errorf("%s: sarama SASL %+v", m, sc.Net.SASL)
		}
	}
	// Hash partitioner: same key, same partition.
	part := sc.Producer.Partitioner("t")
	if !part.RequiresConsistency() {
		t.Error("partitioner does not require consistency")
	}
	msg := &sarama.ProducerMessage{Key: sarama.StringEncoder("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")}
	p1, _ := part.Partition(msg, 12)
	p2, _ := part.Partition(msg, 12)
	if p1 != p2 {
		t.Errorf("same key on partitions %d and %d", p1, p2)
	}
}

// TestRetrySchedule pins how DeliveryTimeout becomes sarama's retry count:
// the waits between attempts (100 ms doubling to 1 s) add up to at least the
// window, and one retry fewer would not.
func TestRetrySchedule(t *testing.T) {
	tests := []struct {
		window  time.Duration
		retries int
	}{
		{100 * time.Millisecond, 1},
		{300 * time.Millisecond, 2},
		{301 * time.Millisecond, 3},
		{1500 * time.Millisecond, 4},
		{2 * time.Second, 5},
		{DefaultDeliveryTimeout, 13},
		{time.Minute, 63},
	}
	for _, tc := range tests {
		t.Run(tc.window.String(), func(t *testing.T) {
			got := producerRetries(tc.window)
			if got != tc.retries {
				t.Fatalf("producerRetries(%s) = %d, want %d", tc.window, got, tc.retries)
			}
			sc, err := Config{Brokers: []string{"k:9092"}, DeliveryTimeout: tc.window}.withDefaults().producerConfig()
			if err != nil {
				t.Fatal(err)
			}
			var total, last time.Duration
			for n := 1; n <= sc.Producer.Retry.Max; n++ {
				last = sc.Producer.Retry.BackoffFunc(n, sc.Producer.Retry.Max)
				total += last
			}
			if total < tc.window || total-last >= tc.window {
				t.Errorf("%d retries wait %s in total (%s without the last), want the first to reach %s", sc.Producer.Retry.Max, total, total-last, tc.window)
			}
		})
	}
	for n, want := range map[int]time.Duration{0: 100 * time.Millisecond, 1: 100 * time.Millisecond, 2: 200 * time.Millisecond,
		4: 800 * time.Millisecond, 5: time.Second, 64: time.Second, 1 << 30: time.Second} {
		if got := retryBackoff(n); got != want {
			t.Errorf("retryBackoff(%d) = %s, want %s", n, got, want)
		}
	}
}

func TestValidateTopicName(t *testing.T) {
	for name, ok := range map[string]bool{
		"outbox.event.Order":     true,
		"a":                      true,
		"A-b_c.9":                true,
		strings.Repeat("x", 249): true,
		"":                       false,
		".":                      false,
		"..":                     false,
		strings.Repeat("x", 250): false,
		"has space":              false,
		"slash/topic":            false,
		"ünicode":                false,
	} {
		err := ValidateTopicName(name)
		if (err == nil) != ok {
			t.Errorf("ValidateTopicName(%q) = %v, want ok=%v", name, err, ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidTopic) {
			t.Errorf("ValidateTopicName(%q) = %v, want ErrInvalidTopic", name, err)
		}
	}
}

// ProducerConfig hands tools the publisher's own producer configuration,
// and refuses a configuration the publisher would refuse.
func TestProducerConfig(t *testing.T) {
	sc, err := Config{Brokers: []string{"k:9092"}, Linger: 7 * time.Millisecond}.ProducerConfig()
	if err != nil {
		t.Fatal(err)
	}
	want, err := Config{Brokers: []string{"k:9092"}, Linger: 7 * time.Millisecond}.withDefaults().producerConfig()
	if err != nil {
		t.Fatal(err)
	}
	if sc.Producer.Flush.Frequency != 7*time.Millisecond || sc.Producer.Retry.Max != want.Producer.Retry.Max ||
		!sc.Producer.Idempotent || sc.Net.MaxOpenRequests != 1 || sc.ClientID != DefaultClientID {
		t.Errorf("ProducerConfig: %+v", sc.Producer)
	}
	if _, err := (Config{Brokers: []string{"k:9092"}, Linger: -time.Second}).ProducerConfig(); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("invalid linger: %v, want ErrInvalidConfig", err)
	}
}
