package outboxtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// certLifetime is how long certificates made without a NotAfter are valid:
// long enough for any test, short enough to be obviously a test's.
const certLifetime = 24 * time.Hour

// CA is a certificate authority made for one test (ECDSA P-256), for tests
// of TLS to the embedded servers: it issues server and client
// certificates, expired ones included, and writes the PEM files the
// services' settings name.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// PEM is the CA certificate, PEM-encoded: what a CA file holds.
	PEM []byte
}

// KeyPair is a certificate issued by a [CA] with its private key.
type KeyPair struct {
	// Certificate is the pair for a tls.Config.
	Certificate tls.Certificate
	// CertPEM and KeyPEM are the PEM encodings, as in a certificate and a
	// key file.
	CertPEM, KeyPEM []byte
}

// CertOptions shape a certificate issued by [CA.Issue].
type CertOptions struct {
	// Server makes a server certificate valid for 127.0.0.1, ::1 and
	// localhost; otherwise the certificate is a client certificate.
	Server bool
	// CommonName is the subject's name (default "outboxtest server" or
	// "outboxtest client").
	CommonName string
	// NotAfter ends the validity (default a day from now). A time in the
	// past makes an expired certificate, valid for the day before it.
	NotAfter time.Time
}

// NewCA makes a certificate authority named name (default "outboxtest
// CA"); distinct CAs do not trust each other's certificates.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	if name == "" {
		name = "outboxtest CA"
	}
	key := newKey(t)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("outboxtest: create CA certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("outboxtest: parse CA certificate: %v", err)
	}
	return &CA{cert: cert, key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// Pool is a pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// Issue makes a certificate signed by the CA.
func (ca *CA) Issue(t testing.TB, o CertOptions) *KeyPair {
	t.Helper()
	now := time.Now()
	notBefore, notAfter := now.Add(-time.Hour), o.NotAfter
	switch {
	case notAfter.IsZero():
		notAfter = now.Add(certLifetime)
	case notAfter.Before(now):
		notBefore = notAfter.Add(-certLifetime)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if o.Server {
		tmpl.Subject.CommonName = "outboxtest server"
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		tmpl.DNSNames = []string{"localhost"}
	} else {
		tmpl.Subject.CommonName = "outboxtest client"
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	if o.CommonName != "" {
		tmpl.Subject.CommonName = o.CommonName
	}
	key := newKey(t)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatalf("outboxtest: issue certificate %q: %v", tmpl.Subject.CommonName, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("outboxtest: encode key: %v", err)
	}
	kp := &KeyPair{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
	if kp.Certificate, err = tls.X509KeyPair(kp.CertPEM, kp.KeyPEM); err != nil {
		t.Fatalf("outboxtest: key pair: %v", err)
	}
	return kp
}

// WriteFile writes the CA certificate to a PEM file in a directory of the
// test's (removed when it ends) and returns its path.
func (ca *CA) WriteFile(t testing.TB) string {
	t.Helper()
	return writeFile(t, "ca.pem", ca.PEM)
}

// WriteFiles writes the certificate and the key to PEM files in a
// directory of the test's and returns their paths.
func (kp *KeyPair) WriteFiles(t testing.TB) (certFile, keyFile string) {
	t.Helper()
	return writeFile(t, "cert.pem", kp.CertPEM), writeFile(t, "key.pem", kp.KeyPEM)
}

// ServerTLS is a server's TLS configuration presenting the certificate
// that cert holds at each handshake, so a test can replace it (renew an
// expired certificate) without restarting the server. A non-nil clientCA
// requires every client to present a certificate it signed.
func ServerTLS(cert *atomic.Pointer[KeyPair], clientCA *CA) *tls.Config {
	c := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return &cert.Load().Certificate, nil
		},
	}
	if clientCA != nil {
		c.ClientAuth = tls.RequireAndVerifyClientCert
		c.ClientCAs = clientCA.Pool()
	}
	return c
}

// ServingCert holds kp for [ServerTLS].
func ServingCert(kp *KeyPair) *atomic.Pointer[KeyPair] {
	var p atomic.Pointer[KeyPair]
	p.Store(kp)
	return &p
}

// ClientTLS is a client's TLS configuration trusting only ca and, when
// cert is not nil, presenting it.
func ClientTLS(ca *CA, cert *KeyPair) *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: ca.Pool()}
	if cert != nil {
		c.Certificates = []tls.Certificate{cert.Certificate}
	}
	return c
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("outboxtest: generate key: %v", err)
	}
	return key
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatalf("outboxtest: serial number: %v", err)
	}
	return n
}

// writeFile writes data to a file of that name in a new directory of the
// test's, so that two writes never clash.
func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("outboxtest: write %s: %v", path, err)
	}
	return path
}
