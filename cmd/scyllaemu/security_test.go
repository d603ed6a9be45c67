package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/scylla-outbox/scylla-outbox/internal/outboxtest"
)

// The command serves TLS with a client certificate required and accepts
// the users of --user and of $SCYLLAEMU_USERS (passwords may hold colons),
// and only them.
func TestServesTLSAndUsers(t *testing.T) {
	ca := outboxtest.NewCA(t, "")
	certFile, keyFile := ca.Issue(t, outboxtest.CertOptions{Server: true}).WriteFiles(t)
	client := ca.Issue(t, outboxtest.CertOptions{})
	t.Setenv(usersEnv, "ops:op-pw\r\n\nauditor:a:b:c\n")
	c := startChild(t, "--listen", "127.0.0.1:0", "--vnodes", "4",
		"--tls-cert", certFile, "--tls-key", keyFile, "--tls-client-ca", ca.WriteFile(t), "--user", "relay:s3:cr:et")
	addr, _, _ := strings.Cut(c.expect(t, "scyllaemu listening on "), " ")

	tests := []struct {
		user, password string
		ok             bool
	}{
		{"relay", "s3:cr:et", true},
		{"ops", "op-pw", true},
		{"auditor", "a:b:c", true},
		{"relay", "s3", false},
		{"nobody", "op-pw", false},
	}
	for _, tt := range tests {
		cluster := gocql.NewCluster(addr)
		cluster.Timeout = 10 * time.Second
		cluster.SslOpts = &gocql.SslOptions{Config: outboxtest.ClientTLS(ca, client), EnableHostVerification: true}
		cluster.Authenticator = gocql.PasswordAuthenticator{Username: tt.user, Password: tt.password}
		s, err := cluster.CreateSession()
		if ok := err == nil; ok != tt.ok {
			t.Errorf("%s with %q: session error %v, want success %v", tt.user, tt.password, err, tt.ok)
		}
		if err == nil {
			s.Close()
		}
	}
}

// Bad security flags stop the command with exit status 2 and a message
// that never repeats a password.
func TestSecurityFlagErrors(t *testing.T) {
	ca := outboxtest.NewCA(t, "")
	certFile, keyFile := ca.Issue(t, outboxtest.CertOptions{Server: true}).WriteFiles(t)
	tests := []struct {
		name  string
		args  []string
		users string // $SCYLLAEMU_USERS
		want  string
	}{
		{"user without password", []string{"--user", "hunter2"}, "", "scyllaemu: --user: want name:password"},
		{"empty password", []string{"--user", "bob:"}, "", "scyllaemu: --user: empty password (want name:password)"},
		{"empty name", []string{"--user", ":hunter2"}, "", "scyllaemu: --user: empty user name (want name:password)"},
		{"bad variable line", nil, "ops:pw\nhunter2", "scyllaemu: $SCYLLAEMU_USERS line 2: want name:password"},
		{"certificate without key", []string{"--tls-cert", certFile}, "", "scyllaemu: --tls-cert and --tls-key go together"},
		{"client CA without certificate", []string{"--tls-client-ca", certFile}, "", "scyllaemu: --tls-client-ca needs --tls-cert and --tls-key"},
		{"key that is no key", []string{"--tls-cert", certFile, "--tls-key", certFile}, "", "scyllaemu: --tls-cert/--tls-key: tls: found a certificate rather than a key"},
		{"client CA that is no PEM", []string{"--tls-cert", certFile, "--tls-key", keyFile, "--tls-client-ca", "/dev/null"}, "", "scyllaemu: --tls-client-ca /dev/null: no PEM certificates"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(usersEnv, tt.users)
			var stderr bytes.Buffer
			code := run(append([]string{"--listen", "127.0.0.1:0"}, tt.args...), &bytes.Buffer{}, &stderr)
			if code != 2 || !strings.HasPrefix(stderr.String(), tt.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr.String(), tt.want)
			}
			if strings.Contains(stderr.String(), "hunter2") {
				t.Errorf("stderr shows the password: %q", stderr.String())
			}
		})
	}
}
