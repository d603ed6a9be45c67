package connsec_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/scylla-outbox/scylla-outbox/internal/connsec"
	"github.com/scylla-outbox/scylla-outbox/internal/outboxtest"
)

// handshake runs a TLS handshake between a server configured by server and
// a client configured by client over loopback, and returns the client's
// error: from the handshake, or (TLS 1.3, where the server judges the
// client's certificate after the client finished) from the first read.
func handshake(t *testing.T, server, client *tls.Config) error {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", server)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer func() { _ = c.Close() }()
		// Echo one byte once the handshake (run by the read) succeeded.
		b := make([]byte, 1)
		if _, err := c.Read(b); err == nil {
			_, _ = c.Write(b)
		}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), client)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte{1}); err != nil {
		return err
	}
	_, err = io.ReadFull(c, make([]byte, 1))
	return err
}

func TestTLS(t *testing.T) {
	ca, other := outboxtest.NewCA(t, ""), outboxtest.NewCA(t, "another CA")
	expired := time.Now().Add(-time.Hour)
	good := outboxtest.ServingCert(ca.Issue(t, outboxtest.CertOptions{Server: true}))
	stale := outboxtest.ServingCert(ca.Issue(t, outboxtest.CertOptions{Server: true, NotAfter: expired}))
	client := ca.Issue(t, outboxtest.CertOptions{})
	tls12 := func(c *tls.Config) *tls.Config { c.MaxVersion = tls.VersionTLS12; return c }
	withName := func(c *tls.Config, name string) *tls.Config { c.ServerName = name; return c }
	files := connsec.Client{CAFile: "/etc/ca.pem", CertFile: "/etc/client.pem"}
	tests := []struct {
		name       string
		server     *tls.Config
		client     *tls.Config
		files      connsec.Client
		wantField  string // "" for no TLS failure
		wantReason string
	}{
		{"success", outboxtest.ServerTLS(good, ca), outboxtest.ClientTLS(ca, client), files, "", ""},
		{"unknown CA", outboxtest.ServerTLS(good, nil), outboxtest.ClientTLS(other, nil), files,
			"TLS.CAFile", "the broker's certificate is not signed by a CA in /etc/ca.pem"},
		{"unknown CA, system pool", outboxtest.ServerTLS(good, nil), outboxtest.ClientTLS(other, nil), connsec.Client{},
			"TLS.CAFile", "the broker's certificate is not signed by a CA in the system's CAs"},
		{"expired server certificate", outboxtest.ServerTLS(stale, nil), outboxtest.ClientTLS(ca, nil), files,
			"TLS", "the broker's certificate expired at " + expired.UTC().Format("2006-01-02 15:04 UTC") + ": it must be renewed on the server, unless this machine's clock is wrong"},
		{"another host name", outboxtest.ServerTLS(good, nil), withName(outboxtest.ClientTLS(ca, nil), "kafka.example.com"), files,
			"TLS", "the broker's certificate is not valid for the address dialled, kafka.example.com: connect by a name or address it lists"},
		{"no client certificate", outboxtest.ServerTLS(good, ca), outboxtest.ClientTLS(ca, nil), connsec.Client{},
			"TLS.CertFile", "the broker requires a client certificate, and none is configured"},
		{"no client certificate, TLS 1.2", outboxtest.ServerTLS(good, ca), tls12(outboxtest.ClientTLS(ca, nil)), connsec.Client{},
			"TLS.CertFile", "the broker refused the TLS handshake: it may require a client certificate, and none is configured (or no TLS version or cipher suite is in common)"},
		{"client certificate of another CA", outboxtest.ServerTLS(good, ca), outboxtest.ClientTLS(ca, other.Issue(t, outboxtest.CertOptions{})), files,
			"TLS.CertFile", "the broker requires a client certificate signed by a CA it trusts, and the client certificate /etc/client.pem is not"},
		{"expired client certificate", outboxtest.ServerTLS(good, ca), outboxtest.ClientTLS(ca, ca.Issue(t, outboxtest.CertOptions{NotAfter: expired})), files,
			"TLS.CertFile", "the broker refused the client certificate /etc/client.pem: it has expired (or is not valid yet)"},
		{"expired client certificate, TLS 1.2", outboxtest.ServerTLS(good, ca), tls12(outboxtest.ClientTLS(ca, ca.Issue(t, outboxtest.CertOptions{NotAfter: expired}))), files,
			"TLS.CertFile", "the broker refused the client certificate /etc/client.pem: it has expired (or is not valid yet)"},
		{"no common version", &tls.Config{MinVersion: tls.VersionTLS13, GetCertificate: outboxtest.ServerTLS(good, nil).GetCertificate}, tls12(outboxtest.ClientTLS(ca, nil)), files,
			"TLS", "the broker refused the TLS handshake: no TLS version or cipher suite in common"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := handshake(t, tt.server, tt.client)
			got := connsec.TLS(err, "the broker", tt.files)
			if tt.wantField == "" {
				if err != nil || got != nil {
					t.Fatalf("handshake error %v, explained as %v", err, got)
				}
				return
			}
			if got == nil {
				t.Fatalf("handshake error %v not explained", err)
			}
			if got.Field != tt.wantField || got.Reason != tt.wantReason {
				t.Errorf("explained as %q, %q; want %q, %q (handshake error %v)", got.Field, got.Reason, tt.wantField, tt.wantReason, err)
			}
			if !errors.Is(got, err) || !strings.HasSuffix(got.Error(), ": "+err.Error()) {
				t.Errorf("Error %q does not end with, or wrap, the handshake error %v", got.Error(), err)
			}
		})
	}
}

// Errors that are no TLS failure are left alone, wrapped or not.
func TestOtherErrors(t *testing.T) {
	for _, err := range []error{
		nil,
		io.EOF,
		&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")},
		&net.OpError{Op: "remote error", Err: errors.New("tls: no application protocol")},
	} {
		if got := connsec.TLS(err, "ScyllaDB", connsec.Client{}); got != nil {
			t.Errorf("%v explained as %v", err, got)
		}
	}
}
