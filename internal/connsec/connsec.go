// Package connsec tells why a connection failed its TLS handshake or its
// login, in words and by the client setting to look at, for the two
// clients of the relay: storage (ScyllaDB) and messaging (Kafka), whose TLS
// settings have the same shape. A driver's own message ("remote error:
// tls: certificate required", "kafka: client has run out of available
// brokers to talk to") names neither the cause nor the setting.
package connsec

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Error is a connection refused for a reason a setting controls: the TLS
// handshake or the credentials. Callers that know the settings' names
// (app) map Field to one.
type Error struct {
	// Field is the client setting to check, as a path in the component's
	// configuration: "TLS.CAFile", "TLS.CertFile", "TLS" (the server's
	// certificate, which no client setting fixes), or the component's
	// password field.
	Field string
	// Reason says what went wrong. It never holds a secret.
	Reason string
	// Err is the driver's error.
	Err error
}

func (e *Error) Error() string { return e.Reason + ": " + e.Err.Error() }

// Unwrap returns the driver's error.
func (e *Error) Unwrap() error { return e.Err }

// Client is what the client presented and trusted, for the reasons.
type Client struct {
	// CAFile is the CA bundle the server's certificate was checked
	// against; empty for the system's CAs.
	CAFile string
	// CertFile is the client certificate; empty for none.
	CertFile string
}

// TLS explains err if it is (or wraps) a failed TLS handshake with server
// (a name for the reasons: "ScyllaDB", "the broker"), and returns nil
// otherwise. It recognises the client's verdict on the server's
// certificate (crypto/x509's errors) and the server's verdict on the
// client's, which arrives as a TLS alert: at the handshake with TLS 1.2,
// on the first read with TLS 1.3.
func TLS(err error, server string, c Client) *Error {
	var (
		unknown x509.UnknownAuthorityError
		invalid x509.CertificateInvalidError
		host    x509.HostnameError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &unknown):
		trusted := "the system's CAs"
		if c.CAFile != "" {
			trusted = c.CAFile
		}
		return &Error{Field: "TLS.CAFile", Err: err,
			Reason: fmt.Sprintf("%s's certificate is not signed by a CA in %s", server, trusted)}
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		when := "expired at " + stamp(invalid.Cert.NotAfter)
		if time.Now().Before(invalid.Cert.NotBefore) {
			when = "is not valid before " + stamp(invalid.Cert.NotBefore)
		}
		return &Error{Field: "TLS", Err: err,
			Reason: fmt.Sprintf("%s's certificate %s: it must be renewed on the server, unless this machine's clock is wrong", server, when)}
	case errors.As(err, &host):
		return &Error{Field: "TLS", Err: err,
			Reason: fmt.Sprintf("%s's certificate is not valid for the address dialled, %s: connect by a name or address it lists", server, host.Host)}
	}
	alert, ok := remoteAlert(err)
	if !ok {
		return nil
	}
	cert := "the client certificate " + c.CertFile
	switch alert {
	case "certificate required", "bad certificate":
		// TLS 1.3 says "certificate required", TLS 1.2 "bad
		// certificate", when a client sends none. A Go client sends only
		// a certificate of a CA the server named, so a certificate
		// signed by another CA looks like none at all.
		if c.CertFile == "" {
			return &Error{Field: "TLS.CertFile", Err: err,
				Reason: fmt.Sprintf("%s requires a client certificate, and none is configured", server)}
		}
		if alert == "certificate required" {
			return &Error{Field: "TLS.CertFile", Err: err,
				Reason: fmt.Sprintf("%s requires a client certificate signed by a CA it trusts, and %s is not", server, cert)}
		}
		return &Error{Field: "TLS.CertFile", Err: err, Reason: fmt.Sprintf("%s refused %s", server, cert)}
	case "expired certificate":
		return &Error{Field: "TLS.CertFile", Err: err,
			Reason: fmt.Sprintf("%s refused %s: it has expired (or is not valid yet)", server, cert)}
	case "unknown certificate authority":
		return &Error{Field: "TLS.CertFile", Err: err,
			Reason: fmt.Sprintf("%s does not trust the CA that signed %s", server, cert)}
	case "unsupported certificate", "revoked certificate", "unknown certificate":
		return &Error{Field: "TLS.CertFile", Err: err, Reason: fmt.Sprintf("%s refused %s (%s)", server, cert, alert)}
	case "handshake failure":
		// Also what a TLS 1.2 server (Go's) sends a client that
		// presents no certificate where one is required.
		if c.CertFile == "" {
			return &Error{Field: "TLS.CertFile", Err: err,
				Reason: fmt.Sprintf("%s refused the TLS handshake: it may require a client certificate, and none is configured (or no TLS version or cipher suite is in common)", server)}
		}
		return &Error{Field: "TLS", Err: err,
			Reason: fmt.Sprintf("%s refused the TLS handshake: no TLS version or cipher suite in common", server)}
	case "protocol version not supported", "insufficient security level":
		return &Error{Field: "TLS", Err: err,
			Reason: fmt.Sprintf("%s refused the TLS handshake: no TLS version or cipher suite in common", server)}
	}
	return nil
}

// remoteAlert returns the description of a TLS alert the server sent
// ("certificate required"). crypto/tls reports one as a *net.OpError with
// Op "remote error" around an unexported alert type, so only its text
// tells which.
func remoteAlert(err error) (string, bool) {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "remote error" || op.Err == nil {
		return "", false
	}
	return strings.CutPrefix(op.Err.Error(), "tls: ")
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 MST") }
