package kafkaemu_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/scylla-outbox/scylla-outbox/internal/outboxtest"
	"github.com/scylla-outbox/scylla-outbox/messaging/kafkaemu"
)

// login is the SASL mechanism of a client logging in as user with password.
func login(mechanism, user, password string) sasl.Mechanism {
	switch mechanism {
	case kafkaemu.SCRAMSHA256:
		return scram.Auth{User: user, Pass: password}.AsSha256Mechanism()
	case kafkaemu.SCRAMSHA512:
		return scram.Auth{User: user, Pass: password}.AsSha512Mechanism()
	}
	return plain.Auth{User: user, Pass: password}.AsMechanism()
}

// metadata asks b for its metadata with a franz-go client configured by
// opts: a request that needs a finished login.
func metadata(t *testing.T, b *kafkaemu.Broker, opts ...kgo.Opt) error {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr()), kgo.RetryTimeout(time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	return err
}

// The broker serves TLS and accepts its users with their mechanism; a
// refused login is answered as Kafka answers it, with
// SASL_AUTHENTICATION_FAILED and Kafka's message.
func TestSASLOverTLS(t *testing.T) {
	ca := outboxtest.NewCA(t, "")
	serverTLS := outboxtest.ServerTLS(outboxtest.ServingCert(ca.Issue(t, outboxtest.CertOptions{Server: true})), nil)
	b := start(t, kafkaemu.Options{TLS: serverTLS, Users: []kafkaemu.User{
		{Mechanism: kafkaemu.PLAIN, Name: "plain-user", Password: "plain-pw"},
		{Mechanism: kafkaemu.SCRAMSHA256, Name: "scram256", Password: "pw-256"},
		{Mechanism: kafkaemu.SCRAMSHA512, Name: "scram512", Password: "pw-512"},
	}})
	const scramFailed = "Authentication failed during authentication due to invalid credentials with SASL mechanism "
	tests := []struct {
		name                      string
		mechanism, user, password string
		want                      string // in the error; "" for success
	}{
		{"PLAIN", kafkaemu.PLAIN, "plain-user", "plain-pw", ""},
		{"SCRAM-SHA-256", kafkaemu.SCRAMSHA256, "scram256", "pw-256", ""},
		{"SCRAM-SHA-512", kafkaemu.SCRAMSHA512, "scram512", "pw-512", ""},
		{"PLAIN wrong password", kafkaemu.PLAIN, "plain-user", "guess", "Authentication failed: Invalid username or password"},
		{"PLAIN unknown user", kafkaemu.PLAIN, "nobody", "plain-pw", "Authentication failed: Invalid username or password"},
		{"SCRAM-SHA-256 wrong password", kafkaemu.SCRAMSHA256, "scram256", "guess", scramFailed + "SCRAM-SHA-256"},
		{"SCRAM-SHA-512 wrong password", kafkaemu.SCRAMSHA512, "scram512", "guess", scramFailed + "SCRAM-SHA-512"},
		{"SCRAM unknown user", kafkaemu.SCRAMSHA256, "nobody", "pw-256", scramFailed + "SCRAM-SHA-256"},
		{"user of another mechanism", kafkaemu.SCRAMSHA512, "scram256", "pw-256", scramFailed + "SCRAM-SHA-512"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := metadata(t, b, kgo.DialTLSConfig(outboxtest.ClientTLS(ca, nil)), kgo.SASL(login(tt.mechanism, tt.user, tt.password)))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("metadata after login: %v", err)
				}
				return
			}
			if !errors.Is(err, kerr.SaslAuthenticationFailed) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want SASL_AUTHENTICATION_FAILED with %q", err, tt.want)
			}
		})
	}
}

// Without a login, or with an untrusted server certificate, nothing but
// the handshake happens; users and TLS survive a restart.
func TestSecurityRefusals(t *testing.T) {
	ca, other := outboxtest.NewCA(t, ""), outboxtest.NewCA(t, "another CA")
	serverTLS := outboxtest.ServerTLS(outboxtest.ServingCert(ca.Issue(t, outboxtest.CertOptions{Server: true})), ca)
	client := ca.Issue(t, outboxtest.CertOptions{})
	b := start(t, kafkaemu.Options{TLS: serverTLS, Users: []kafkaemu.User{{Mechanism: kafkaemu.SCRAMSHA256, Name: "relay", Password: "pw"}}})
	good := []kgo.Opt{kgo.DialTLSConfig(outboxtest.ClientTLS(ca, client)), kgo.SASL(login(kafkaemu.SCRAMSHA256, "relay", "pw"))}
	tests := []struct {
		name string
		opts []kgo.Opt
		want string
	}{
		{"no SASL", []kgo.Opt{kgo.DialTLSConfig(outboxtest.ClientTLS(ca, client))}, "is SASL missing?"},
		{"untrusted server", []kgo.Opt{kgo.DialTLSConfig(outboxtest.ClientTLS(other, client)), good[1]}, "x509: certificate signed by unknown authority"},
		{"no client certificate", []kgo.Opt{kgo.DialTLSConfig(outboxtest.ClientTLS(ca, nil)), good[1]}, "tls: certificate required"},
		{"plaintext", []kgo.Opt{good[1]}, "is TLS missing?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := metadata(t, b, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one with %q", err, tt.want)
			}
		})
	}
	if err := metadata(t, b, good...); err != nil {
		t.Fatalf("metadata with TLS and login: %v", err)
	}
	if err := b.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := metadata(t, b, good...); err != nil {
		t.Fatalf("metadata after a restart: %v", err)
	}
}

// Options.Users are checked at Start.
func TestUsersAreValidated(t *testing.T) {
	tests := []struct {
		user kafkaemu.User
		want string
	}{
		{kafkaemu.User{Mechanism: "GSSAPI", Name: "u", Password: "p"}, `kafkaemu: Options.Users[0].Mechanism "GSSAPI" is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512`},
		{kafkaemu.User{Mechanism: kafkaemu.PLAIN, Password: "p"}, "kafkaemu: Options.Users[0].Name is empty"},
		{kafkaemu.User{Mechanism: kafkaemu.PLAIN, Name: "u"}, "kafkaemu: Options.Users[0].Password is empty"},
	}
	for _, tt := range tests {
		if _, err := kafkaemu.Start(context.Background(), kafkaemu.Options{Users: []kafkaemu.User{tt.user}}); err == nil || err.Error() != tt.want {
			t.Errorf("Start with %+v: %v, want %q", tt.user, err, tt.want)
		}
	}
}
