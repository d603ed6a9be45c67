package messaging_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scylla-outbox/scylla-outbox/internal/connsec"
	"github.com/scylla-outbox/scylla-outbox/internal/outboxtest"
	"github.com/scylla-outbox/scylla-outbox/messaging"
	"github.com/scylla-outbox/scylla-outbox/messaging/kafkaemu"
)

// secured is a broker that requires TLS with a client certificate and a
// SASL login, and the files a client needs.
type secured struct {
	broker                    *kafkaemu.Broker
	ca, otherCA               *outboxtest.CA
	caFile, certFile, keyFile string
}

const topicSecured = "outbox.event.Order"

func startSecured(t *testing.T, serverCert *outboxtest.KeyPair, users ...kafkaemu.User) *secured {
	t.Helper()
	ca := outboxtest.NewCA(t, "")
	if serverCert == nil {
		serverCert = ca.Issue(t, outboxtest.CertOptions{Server: true})
	}
	s := &secured{ca: ca, otherCA: outboxtest.NewCA(t, "another CA"), caFile: ca.WriteFile(t)}
	s.certFile, s.keyFile = ca.Issue(t, outboxtest.CertOptions{}).WriteFiles(t)
	s.broker = startBroker(t, kafkaemu.Options{Topics: []string{topicSecured},
		TLS: outboxtest.ServerTLS(outboxtest.ServingCert(serverCert), ca), Users: users})
	return s
}

func (s *secured) config(mechanism, user, password string) messaging.Config {
	return messaging.Config{
		Brokers: s.broker.Brokers(), Timeout: time.Second,
		TLS:  &messaging.TLSConfig{CAFile: s.caFile, CertFile: s.certFile, KeyFile: s.keyFile},
		SASL: &messaging.SASLConfig{Mechanism: mechanism, User: user, Password: password},
	}
}

// The publisher and ConsumeWith work over TLS with each SASL mechanism,
// through the embedded broker's kfake and the real sarama client.
func TestPublishOverTLSWithSASL(t *testing.T) {
	for _, mechanism := range []string{messaging.SASLMechanismPlain, messaging.SASLMechanismSCRAMSHA256, messaging.SASLMechanismSCRAMSHA512} {
		t.Run(mechanism, func(t *testing.T) {
			s := startSecured(t, nil, kafkaemu.User{Mechanism: mechanism, Name: "relay", Password: "k-s3cret"})
			cfg := s.config(mechanism, "relay", "k-s3cret")
			p := newPublisher(t, cfg)
			select {
			case <-p.Connected():
			case <-time.After(30 * time.Second):
				t.Fatalf("not connected: %v", p.Healthy())
			}
			rec := record("Order", uuid.New(), 1)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := p.PublishSync(ctx, rec); err != nil {
				t.Fatalf("publish: %v", err)
			}
			if err := p.Healthy(); err != nil {
				t.Fatalf("Healthy: %v", err)
			}
			var got []messaging.Message
			err := messaging.ConsumeWith(ctx, cfg, []string{topicSecured}, func(m messaging.Message) error {
				got = append(got, m)
				cancel()
				return nil
			})
			if err != nil || len(got) != 1 || got[0].Headers[messaging.HeaderEventID] != rec.EventID.String() {
				t.Fatalf("consume: %v, %d messages", err, len(got))
			}
		})
	}
}

// A connection the broker refuses for a TLS or SASL reason fails with a
// *connsec.Error naming the Config field to fix and saying why, from the
// publisher (Healthy, the logs) and from ConsumeWith alike; the password
// appears nowhere.
func TestRefusedConnectionsNameTheField(t *testing.T) {
	const password, wrong = "k-s3cret", "not-the-pw"
	user := kafkaemu.User{Mechanism: messaging.SASLMechanismSCRAMSHA256, Name: "relay", Password: password}
	expiredCA := outboxtest.NewCA(t, "")
	tests := []struct {
		name       string
		serverCert func(t *testing.T) *outboxtest.KeyPair
		config     func(s *secured) messaging.Config
		wantField  string
		wantReason string
		wantErr    string
	}{
		{"wrong password", nil, func(s *secured) messaging.Config {
			return s.config(messaging.SASLMechanismSCRAMSHA256, "relay", wrong)
		}, "SASL.Password", `the broker refused the credentials of user "relay" (SCRAM-SHA-256)`,
			"kafka server: SASL Authentication failed: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256"},
		{"another mechanism than the user's", nil, func(s *secured) messaging.Config {
			return s.config(messaging.SASLMechanismSCRAMSHA512, "relay", password)
		}, "SASL.Password", `the broker refused the credentials of user "relay" (SCRAM-SHA-512)`,
			"Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"},
		{"PLAIN where the user has SCRAM", nil, func(s *secured) messaging.Config {
			return s.config(messaging.SASLMechanismPlain, "relay", password)
		}, "SASL.Password", `the broker refused the credentials of user "relay" (PLAIN)`,
			"Authentication failed: Invalid username or password"},
		{"wrong CA", nil, func(s *secured) messaging.Config {
			c := s.config(messaging.SASLMechanismSCRAMSHA256, "relay", password)
			c.TLS.CAFile = s.otherCA.WriteFile(t)
			return c
		}, "TLS.CAFile", "the broker's certificate is not signed by a CA in ", "x509: certificate signed by unknown authority"},
		{"no client certificate", nil, func(s *secured) messaging.Config {
			c := s.config(messaging.SASLMechanismSCRAMSHA256, "relay", password)
			c.TLS.CertFile, c.TLS.KeyFile = "", ""
			return c
		}, "TLS.CertFile", "the broker requires a client certificate, and none is configured", "tls: certificate required"},
		{"expired broker certificate", func(t *testing.T) *outboxtest.KeyPair {
			return expiredCA.Issue(t, outboxtest.CertOptions{Server: true, NotAfter: time.Now().Add(-time.Hour)})
		}, func(s *secured) messaging.Config {
			c := s.config(messaging.SASLMechanismSCRAMSHA256, "relay", password)
			c.TLS.CAFile = expiredCA.WriteFile(t)
			return c
		}, "TLS", "the broker's certificate expired at ", "x509: certificate has expired or is not yet valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var serverCert *outboxtest.KeyPair
			if tt.serverCert != nil {
				serverCert = tt.serverCert(t)
			}
			s := startSecured(t, serverCert, user)
			cfg := tt.config(s)
			core, logs := observer.New(zap.DebugLevel)
			p, err := messaging.NewPublisher(cfg, zap.New(core))
			if err != nil {
				t.Fatalf("NewPublisher: %v", err)
			}
			defer closeOrFail(t, "publisher", p)
			check := func(what string, err error) {
				t.Helper()
				var ce *connsec.Error
				switch {
				case !errors.As(err, &ce):
					t.Fatalf("%s: %v, want a *connsec.Error", what, err)
				case ce.Field != tt.wantField || !strings.HasPrefix(ce.Reason, tt.wantReason) || !strings.Contains(err.Error(), tt.wantErr):
					t.Errorf("%s: field %q, error %q; want field %q, reason %q and %q", what, ce.Field, err, tt.wantField, tt.wantReason, tt.wantErr)
				case strings.Contains(err.Error(), password) || strings.Contains(err.Error(), wrong):
					t.Errorf("%s: the error shows the password: %q", what, err)
				}
			}
			check("Healthy", p.Healthy())
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			check("ConsumeWith", messaging.ConsumeWith(ctx, cfg, []string{topicSecured}, func(messaging.Message) error { return nil }))
			for _, e := range logs.All() {
				line := e.Message + " " + fmt.Sprint(e.ContextMap())
				if strings.Contains(line, password) || strings.Contains(line, wrong) {
					t.Errorf("a log line shows the password: %s", line)
				}
			}
		})
	}
}
