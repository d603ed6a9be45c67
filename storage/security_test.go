package storage

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/scylla-outbox/scylla-outbox/internal/connsec"
	"github.com/scylla-outbox/scylla-outbox/internal/outboxtest"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu"
)

// NewSession connects over TLS with a client certificate and a login, and
// a connection the emulator refuses fails with a *connsec.Error naming the
// Config field to fix and saying why, without the password.
func TestNewSessionSecurity(t *testing.T) {
	const password, wrong = "db-s3cret", "not-the-pw"
	ca, other := outboxtest.NewCA(t, ""), outboxtest.NewCA(t, "another CA")
	expired := time.Now().Add(-time.Hour)
	caFile := ca.WriteFile(t)
	certFile, keyFile := ca.Issue(t, outboxtest.CertOptions{}).WriteFiles(t)
	oldCert, oldKey := ca.Issue(t, outboxtest.CertOptions{NotAfter: expired}).WriteFiles(t)
	good := outboxtest.ServingCert(ca.Issue(t, outboxtest.CertOptions{Server: true}))
	stale := outboxtest.ServingCert(ca.Issue(t, outboxtest.CertOptions{Server: true, NotAfter: expired}))
	tlsOK := TLSConfig{CAFile: caFile, CertFile: certFile, KeyFile: keyFile}
	tests := []struct {
		name       string
		serverCert func() *outboxtest.KeyPair
		user, pw   string
		tls        TLSConfig
		wantField  string // "" for success
		wantReason string
		wantErr    string
	}{
		{"TLS and login", good.Load, "relay", password, tlsOK, "", "", ""},
		{"wrong password", good.Load, "relay", wrong, tlsOK,
			"Password", `ScyllaDB refused the credentials of user "relay"`, "Username and/or password are incorrect"},
		{"unknown user", good.Load, "nobody", password, tlsOK,
			"Password", `ScyllaDB refused the credentials of user "nobody"`, "Username and/or password are incorrect"},
		{"no login", good.Load, "", "", tlsOK,
			"Username", "ScyllaDB requires a login, and no user name is configured", `authentication required (using "org.apache.cassandra.auth.PasswordAuthenticator")`},
		{"wrong CA", good.Load, "relay", password, TLSConfig{CAFile: other.WriteFile(t), CertFile: certFile, KeyFile: keyFile},
			"TLS.CAFile", "ScyllaDB's certificate is not signed by a CA in ", "x509: certificate signed by unknown authority"},
		{"expired server certificate", stale.Load, "relay", password, tlsOK,
			"TLS", "ScyllaDB's certificate expired at ", "x509: certificate has expired or is not yet valid"},
		{"no client certificate", good.Load, "relay", password, TLSConfig{CAFile: caFile},
			"TLS.CertFile", "ScyllaDB requires a client certificate, and none is configured", "tls: certificate required"},
		{"expired client certificate", good.Load, "relay", password, TLSConfig{CAFile: caFile, CertFile: oldCert, KeyFile: oldKey},
			"TLS.CertFile", "ScyllaDB refused the client certificate " + oldCert + ": it has expired (or is not valid yet)", "tls: expired certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := scyllaemu.Start(context.Background(), scyllaemu.Options{
				TLS:   outboxtest.ServerTLS(outboxtest.ServingCert(tt.serverCert()), ca),
				Users: map[string]string{"relay": password},
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = srv.Close() })
			tc := tt.tls
			s, err := NewSession(context.Background(), Config{Hosts: []string{srv.Addr()}, Username: tt.user, Password: tt.pw, TLS: &tc, ConnectTimeout: 2 * time.Second})
			if tt.wantField == "" {
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				var v string
				if err := s.Query("SELECT release_version FROM system.local", nil).Scan(&v); err != nil {
					t.Fatalf("query: %v", err)
				}
				return
			}
			if err == nil {
				s.Close()
				t.Fatal("NewSession succeeded")
			}
			var ce *connsec.Error
			switch {
			case !errors.As(err, &ce):
				t.Fatalf("error %v, want a *connsec.Error", err)
			case ce.Field != tt.wantField || !strings.HasPrefix(ce.Reason, tt.wantReason) || !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("field %q, error %q; want field %q, reason %q and %q", ce.Field, err, tt.wantField, tt.wantReason, tt.wantErr)
			case !strings.HasPrefix(err.Error(), "storage: connect to "+srv.Addr()+": "+ce.Reason):
				t.Errorf("error %q does not start with the hosts and the reason", err)
			case strings.Contains(err.Error(), password) || strings.Contains(err.Error(), wrong):
				t.Errorf("the error shows the password: %q", err)
			}
		})
	}
}
