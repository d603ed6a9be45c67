package app

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scylla-outbox/scylla-outbox/config"
	"github.com/scylla-outbox/scylla-outbox/internal/outboxtest"
	"github.com/scylla-outbox/scylla-outbox/messaging"
	"github.com/scylla-outbox/scylla-outbox/messaging/kafkaemu"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu"
	"github.com/scylla-outbox/scylla-outbox/storage"
)

// The logins of the secured stack. The passwords are long enough that
// finding one in a log line is no coincidence.
const (
	dbUser        = "relay"
	dbPassword    = "scylla-pw-7f3a9c"
	kafkaUser     = "relay"
	kafkaPassword = "kafka-pw-2b8e41"
	wrongPassword = "wrong-pw-5d0c77"
)

// securedStack is the embedded stack locked down as a production cluster
// is: ScyllaDB and Kafka serve TLS only, require a client certificate and
// a login (ScyllaDB's PasswordAuthenticator, Kafka SCRAM-SHA-512), and the
// relay's settings name the files a user would write.
type securedStack struct {
	*stack
	ca                      *outboxtest.CA
	dbCert, brokerCert      *atomic.Pointer[outboxtest.KeyPair] // what the servers present
	caFile, certFile        string
	keyFile                 string
	dbPWFile, kafkaPWFile   string
	otherCAFile             string // a CA that signed nothing of the stack's
	oldCertFile, oldKeyFile string // an expired client certificate and its key
}

func newSecuredStack(t *testing.T) *securedStack {
	t.Helper()
	ca := outboxtest.NewCA(t, "")
	client := ca.Issue(t, outboxtest.CertOptions{CommonName: "relay"})
	s := &securedStack{
		ca:          ca,
		dbCert:      outboxtest.ServingCert(ca.Issue(t, outboxtest.CertOptions{Server: true})),
		brokerCert:  outboxtest.ServingCert(ca.Issue(t, outboxtest.CertOptions{Server: true})),
		caFile:      ca.WriteFile(t),
		otherCAFile: outboxtest.NewCA(t, "another CA").WriteFile(t),
		dbPWFile:    writeSecret(t, dbPassword+"\n"),
		kafkaPWFile: writeSecret(t, kafkaPassword+"\n"),
	}
	s.certFile, s.keyFile = client.WriteFiles(t)
	s.oldCertFile, s.oldKeyFile = ca.Issue(t, outboxtest.CertOptions{NotAfter: time.Now().Add(-time.Hour)}).WriteFiles(t)
	db := outboxtest.StartDB(t,
		outboxtest.WithEmulator(scyllaemu.Options{TLS: outboxtest.ServerTLS(s.dbCert, ca), Users: map[string]string{dbUser: dbPassword}}),
		outboxtest.WithSessionLogin(outboxtest.ClientTLS(ca, client), dbUser, dbPassword))
	broker := outboxtest.StartBroker(t, kafkaemu.Options{Topics: []string{topic},
		TLS:   outboxtest.ServerTLS(s.brokerCert, ca),
		Users: []kafkaemu.User{{Mechanism: kafkaemu.SCRAMSHA512, Name: kafkaUser, Password: kafkaPassword}}})
	s.stack = &stack{db: db, dbAddr: db.Addr, broker: broker, session: db.Session,
		store:     storage.NewOrderStore(db.Session, storage.OrderStoreOptions{Keyspace: db.Keyspace}),
		committed: map[uuid.UUID]time.Time{}, expected: map[uuid.UUID][]uuid.UUID{},
		consumer: &messaging.Config{Brokers: broker.Brokers(), Timeout: 2 * time.Second,
			TLS:  &messaging.TLSConfig{CAFile: s.caFile, CertFile: s.certFile, KeyFile: s.keyFile},
			SASL: &messaging.SASLConfig{Mechanism: messaging.SASLMechanismSCRAMSHA512, User: kafkaUser, Password: kafkaPassword}}}
	return s
}

// writeSecret writes a password file as a user would (with a newline).
func writeSecret(t *testing.T, contents string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(path, []byte(contents), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// config is what a user writes to run the relay on the secured stack:
// TLS files, user names and password files.
func (s *securedStack) config(processor string) config.Config {
	c := DefaultConfig()
	c.Processor = processor
	tlsFiles := config.TLSSettings{CAFile: s.caFile, CertFile: s.certFile, KeyFile: s.keyFile}
	c.Scylla.Hosts = []string{s.dbAddr}
	c.Scylla.Consistency = "ONE"
	c.Scylla.ConnectTimeout = time.Second
	c.Scylla.TLS = tlsFiles
	c.Scylla.Username, c.Scylla.PasswordFile = dbUser, s.dbPWFile
	c.Kafka.Brokers = s.broker.Brokers()
	c.Kafka.Timeout = 2 * time.Second
	c.Kafka.TLS = tlsFiles
	c.Kafka.SASL = config.SASLSettings{Mechanism: messaging.SASLMechanismSCRAMSHA512, User: kafkaUser, PasswordFile: s.kafkaPWFile}
	c.HTTP.Listen = "127.0.0.1:0"
	return c
}

// run starts a runtime configured by c through NewSettings, the mapping
// the binaries use, with the test relay's windows.
func (s *securedStack) run(t *testing.T, c config.Config, logger *zap.Logger) *Runtime {
	t.Helper()
	settings, err := NewSettings(c, logger)
	if err != nil {
		t.Fatal(err)
	}
	settings.Relay = relayConfig(c.Processor)
	// Events a relay without a broker holds are read again after the
	// restart; the drain need not wait for them.
	settings.Relay.Processing.DrainTimeout = time.Second
	rt, err := Run(context.Background(), settings, RunOptions{})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	shutdownOnCleanup(t, rt)
	return rt
}

// started waits until the runtime has started the relay.
func started(t *testing.T, rt *Runtime) {
	t.Helper()
	select {
	case <-rt.Started():
	case <-rt.Failed():
		t.Fatalf("starting failed: %v", rt.Err())
	case <-time.After(time.Minute):
		code, doc, err := getJSON(rt.HTTPAddr, "/readyz")
		t.Fatalf("not started after a minute; /readyz %d %v %v", code, doc, err)
	}
}

// ready waits until /readyz answers 200.
func ready(t *testing.T, rt *Runtime) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; {
		code, doc, err := getJSON(rt.HTTPAddr, "/readyz")
		if code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d %v %v", code, doc, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func shutdown(t *testing.T, rt *Runtime) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rt.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// noSecrets fails the test if a log line or a text shows a password.
func noSecrets(t *testing.T, logs *observer.ObservedLogs, texts ...string) {
	t.Helper()
	for _, e := range logs.All() {
		texts = append(texts, e.Message+" "+fmt.Sprint(e.ContextMap()))
	}
	for _, text := range texts {
		for _, pw := range []string{dbPassword, kafkaPassword, wrongPassword} {
			if strings.Contains(text, pw) {
				t.Errorf("a password shows in %q", text)
			}
		}
	}
}

// The whole relay over TLS with a client certificate and a login on both
// sides: ScyllaDB (the relay's session and the CDC reader on it) and Kafka
// (SCRAM-SHA-512), configured from files as a user configures it. Every
// event arrives, in order per order, none dead-lettered, and no password
// reaches the logs.
func TestRelayOverTLSWithAuth(t *testing.T) {
	for _, proc := range processors {
		t.Run(proc, func(t *testing.T) {
			s := newSecuredStack(t)
			core, logs := observer.New(zap.DebugLevel)
			rt := s.run(t, s.config(proc), zap.New(core))
			started(t, rt)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r := s.consume(t, ctx)
			s.writeOrders(t, 20, 3, nil)
			s.waitAll(t, r, time.Minute)
			if n := dlqCount(t, s.stack); n != 0 {
				t.Fatalf("%d events dead-lettered", n)
			}
			ready(t, rt)
			shutdown(t, rt)
			noSecrets(t, logs)
		})
	}
}

// The failures a user meets turning security on, on either side, each in
// a relay that then runs with the mistake: a clear error naming the
// setting (in /readyz, under the failing dependency only, and in an Error
// log line with the setting as a field), and nothing lost: the events
// written meanwhile arrive once the relay runs with the mistake fixed.
// The cases alternate the processors.
func TestRelayOverTLSWithAuthFailures(t *testing.T) {
	type fix func(s *securedStack, c *config.Config)
	tests := []struct {
		name    string
		dep     string // the dependency /readyz names
		setting string
		// breaks makes the mistake, in the settings or on the server.
		breaks fix
		// mends undoes a mistake made on the server; a settings mistake
		// is undone by running with the good settings.
		mends fix
		// want are the parts of the failure, in order: the setting, the
		// component's words, the driver's.
		want func(s *securedStack) []string
	}{
		{
			name: "wrong CA", dep: "scylla", setting: "scylla.tls.ca_file",
			breaks: func(s *securedStack, c *config.Config) { c.Scylla.TLS.CAFile = s.otherCAFile },
			want: func(s *securedStack) []string {
				return []string{"scylla.tls.ca_file: storage: connect to " + s.dbAddr + ": ScyllaDB's certificate is not signed by a CA in " + s.otherCAFile,
					"tls: failed to verify certificate: x509: certificate signed by unknown authority"}
			},
		},
		{
			name: "wrong CA", dep: "kafka", setting: "kafka.tls.ca_file",
			breaks: func(s *securedStack, c *config.Config) { c.Kafka.TLS.CAFile = s.otherCAFile },
			want: func(s *securedStack) []string {
				return []string{"kafka.tls.ca_file: messaging: brokers [" + s.broker.Addr() + "]: messaging: not connected",
					"messaging: connect to [" + s.broker.Addr() + "]: the broker's certificate is not signed by a CA in " + s.otherCAFile,
					"x509: certificate signed by unknown authority"}
			},
		},
		{
			name: "expired server certificate", dep: "kafka", setting: "kafka.tls",
			breaks: func(s *securedStack, _ *config.Config) {
				s.brokerCert.Store(s.ca.Issue(t, outboxtest.CertOptions{Server: true, NotAfter: time.Now().Add(-time.Hour)}))
			},
			mends: func(s *securedStack, _ *config.Config) {
				s.brokerCert.Store(s.ca.Issue(t, outboxtest.CertOptions{Server: true}))
			},
			want: func(s *securedStack) []string {
				return []string{"kafka.tls: messaging: brokers [" + s.broker.Addr() + "]: messaging: not connected",
					"the broker's certificate expired at ", ": it must be renewed on the server, unless this machine's clock is wrong",
					"x509: certificate has expired or is not yet valid"}
			},
		},
		{
			name: "expired server certificate", dep: "scylla", setting: "scylla.tls",
			breaks: func(s *securedStack, _ *config.Config) {
				s.dbCert.Store(s.ca.Issue(t, outboxtest.CertOptions{Server: true, NotAfter: time.Now().Add(-time.Hour)}))
			},
			mends: func(s *securedStack, _ *config.Config) {
				s.dbCert.Store(s.ca.Issue(t, outboxtest.CertOptions{Server: true}))
			},
			want: func(s *securedStack) []string {
				return []string{"scylla.tls: storage: connect to " + s.dbAddr + ": ScyllaDB's certificate expired at ",
					": it must be renewed on the server, unless this machine's clock is wrong",
					"x509: certificate has expired or is not yet valid"}
			},
		},
		{
			name: "expired client certificate", dep: "scylla", setting: "scylla.tls.cert_file",
			breaks: func(s *securedStack, c *config.Config) {
				c.Scylla.TLS.CertFile, c.Scylla.TLS.KeyFile = s.oldCertFile, s.oldKeyFile
			},
			want: func(s *securedStack) []string {
				return []string{"scylla.tls.cert_file: storage: connect to " + s.dbAddr + ": ScyllaDB refused the client certificate " + s.oldCertFile + ": it has expired (or is not valid yet)",
					"remote error: tls: expired certificate"}
			},
		},
		{
			name: "wrong password", dep: "scylla", setting: "scylla.password",
			breaks: func(s *securedStack, c *config.Config) { c.Scylla.PasswordFile = writeSecret(t, wrongPassword) },
			want: func(s *securedStack) []string {
				return []string{`scylla.password: storage: connect to ` + s.dbAddr + `: ScyllaDB refused the credentials of user "relay": Username and/or password are incorrect`}
			},
		},
		{
			name: "wrong password", dep: "kafka", setting: "kafka.sasl.password",
			breaks: func(s *securedStack, c *config.Config) { c.Kafka.SASL.PasswordFile = writeSecret(t, wrongPassword) },
			want: func(s *securedStack) []string {
				return []string{"kafka.sasl.password: messaging: brokers [" + s.broker.Addr() + "]: messaging: not connected",
					`messaging: connect to [` + s.broker.Addr() + `]: the broker refused the credentials of user "relay" (SCRAM-SHA-512): `,
					"kafka server: SASL Authentication failed: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"}
			},
		},
		{
			name: "client certificate required, none given", dep: "scylla", setting: "scylla.tls.cert_file",
			breaks: func(_ *securedStack, c *config.Config) { c.Scylla.TLS.CertFile, c.Scylla.TLS.KeyFile = "", "" },
			want: func(s *securedStack) []string {
				return []string{"scylla.tls.cert_file: storage: connect to " + s.dbAddr + ": ScyllaDB requires a client certificate, and none is configured: remote error: tls: certificate required"}
			},
		},
		{
			name: "client certificate required, none given", dep: "kafka", setting: "kafka.tls.cert_file",
			breaks: func(_ *securedStack, c *config.Config) { c.Kafka.TLS.CertFile, c.Kafka.TLS.KeyFile = "", "" },
			want: func(s *securedStack) []string {
				return []string{"kafka.tls.cert_file: messaging: brokers [" + s.broker.Addr() + "]: messaging: not connected",
					"messaging: connect to [" + s.broker.Addr() + "]: the broker requires a client certificate, and none is configured",
					"remote error: tls: certificate required"}
			},
		},
	}
	for i, tt := range tests {
		proc := processors[i%len(processors)]
		t.Run(tt.dep+" "+tt.name+" "+proc, func(t *testing.T) {
			s := newSecuredStack(t)
			good := s.config(proc)
			bad := good
			tt.breaks(s, &bad)
			core, logs := observer.New(zap.InfoLevel)
			rt := s.run(t, bad, zap.New(core))

			want := tt.want(s)
			var failure string
			for deadline := time.Now().Add(30 * time.Second); ; {
				code, doc, err := getJSON(rt.HTTPAddr, "/readyz")
				failures, _ := doc["failures"].(map[string]any)
				failure, _ = failures[tt.dep].(string)
				if code == http.StatusServiceUnavailable && failure != "" {
					if other := map[string]string{"scylla": "kafka", "kafka": "scylla"}[tt.dep]; failures[other] != nil {
						t.Errorf("/readyz blames %s too: %v", other, failures[other])
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("/readyz %d %v %v: no %s failure", code, doc, err, tt.dep)
				}
				time.Sleep(20 * time.Millisecond)
			}
			t.Logf("/readyz %s: %s", tt.dep, failure)
			rest := failure
			for _, part := range want {
				i := strings.Index(rest, part)
				if i < 0 {
					t.Fatalf("/readyz %s failure %q lacks %q (in this order: %q)", tt.dep, failure, part, want)
				}
				rest = rest[i+len(part):]
			}
			named := logs.Filter(func(e observer.LoggedEntry) bool {
				return e.Level == zap.ErrorLevel && e.ContextMap()["setting"] == tt.setting
			})
			if named.Len() == 0 {
				t.Errorf("no Error log line names setting %s; logs: %v", tt.setting, logs.All())
			}

			// Events written while the relay cannot connect wait for it in
			// ScyllaDB. Without Kafka the relay cannot be elected: it stays
			// a standby and reads nothing.
			s.writeOrders(t, 5, 2, nil)
			if tt.dep == "kafka" {
				awaitStatusRole(t, rt, "standby")
			}
			if tt.mends != nil {
				// Fixed on the server: the same relay recovers, unrestarted.
				tt.mends(s, &bad)
			} else {
				shutdown(t, rt)
				noSecrets(t, logs, failure)
				rt = s.run(t, good, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
			}
			started(t, rt)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r := s.consume(t, ctx)
			s.writeOrders(t, 5, 2, nil)
			s.waitAll(t, r, time.Minute)
			if n := dlqCount(t, s.stack); n != 0 {
				t.Fatalf("%d events dead-lettered", n)
			}
			ready(t, rt)
			if tt.mends != nil {
				shutdown(t, rt)
				noSecrets(t, logs, failure)
			}
		})
	}
}
