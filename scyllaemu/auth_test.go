package scyllaemu_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/scylla-outbox/scylla-outbox/internal/outboxtest"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu"
	"github.com/scylla-outbox/scylla-outbox/scyllaemu/wire"
)

// connectErrors records the errors of gocql's connection attempts, which
// keep their types (CreateSession flattens them into text).
type connectErrors struct {
	mu   sync.Mutex
	errs []error
}

func (o *connectErrors) ObserveConnect(c gocql.ObservedConnect) {
	if c.Err != nil {
		o.mu.Lock()
		o.errs = append(o.errs, c.Err)
		o.mu.Unlock()
	}
}

func (o *connectErrors) last() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.errs) == 0 {
		return nil
	}
	return o.errs[len(o.errs)-1]
}

// session opens a gocql session on srv with auth and TLS as given, and
// returns the session, or the error of CreateSession and the typed error
// of the last connection attempt.
func session(t *testing.T, srv *scyllaemu.Server, auth gocql.Authenticator, tc *tls.Config) (*gocql.Session, error, error) {
	t.Helper()
	cluster := gocql.NewCluster(srv.Addr())
	cluster.Timeout = 5 * time.Second
	cluster.ConnectTimeout = 5 * time.Second
	cluster.Consistency = gocql.One
	cluster.Authenticator = auth
	if tc != nil {
		cluster.SslOpts = &gocql.SslOptions{Config: tc, EnableHostVerification: true}
	}
	obs := &connectErrors{}
	cluster.ConnectObserver = obs
	s, err := cluster.CreateSession()
	if err != nil {
		return nil, err, obs.last()
	}
	t.Cleanup(s.Close)
	return s, nil, nil
}

// The real gocql driver logs in with PasswordAuthenticator; wrong
// credentials get ScyllaDB's authentication error (code 0x0100, its
// message), and a driver without credentials is told which authenticator
// the server requires.
func TestPasswordAuthenticator(t *testing.T) {
	srv, err := scyllaemu.Start(context.Background(), scyllaemu.Options{Users: map[string]string{"relay": "s3cret", "ops": "other"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	tests := []struct {
		name     string
		auth     gocql.Authenticator
		wantCode int    // 0: the session works
		wantMsg  string // the connection error
	}{
		{"right credentials", gocql.PasswordAuthenticator{Username: "relay", Password: "s3cret"}, 0, ""},
		{"another user", gocql.PasswordAuthenticator{Username: "ops", Password: "other"}, 0, ""},
		{"allowed authenticator", gocql.PasswordAuthenticator{Username: "relay", Password: "s3cret", AllowedAuthenticators: []string{scyllaemu.PasswordAuthenticator}}, 0, ""},
		{"wrong password", gocql.PasswordAuthenticator{Username: "relay", Password: "guess"}, gocql.ErrCodeCredentials, "Username and/or password are incorrect"},
		{"another user's password", gocql.PasswordAuthenticator{Username: "relay", Password: "other"}, gocql.ErrCodeCredentials, "Username and/or password are incorrect"},
		{"unknown user", gocql.PasswordAuthenticator{Username: "nobody", Password: "s3cret"}, gocql.ErrCodeCredentials, "Username and/or password are incorrect"},
		{"no credentials", nil, 0, `authentication required (using "org.apache.cassandra.auth.PasswordAuthenticator")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err, connErr := session(t, srv, tt.auth, nil)
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("CreateSession: %v (last connection error: %v)", err, connErr)
				}
				var v string
				if err := s.Query("SELECT release_version FROM system.local").Scan(&v); err != nil {
					t.Fatalf("query after login: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("CreateSession succeeded")
			}
			if connErr == nil || connErr.Error() != tt.wantMsg {
				t.Fatalf("connection error %v, want %q (CreateSession: %v)", connErr, tt.wantMsg, err)
			}
			var re gocql.RequestError
			switch {
			case tt.wantCode == 0 && errors.As(connErr, &re):
				t.Errorf("a server error %v, want the driver's own", connErr)
			case tt.wantCode != 0 && (!errors.As(connErr, &re) || re.Code() != tt.wantCode):
				t.Errorf("connection error %#v, want code %#x", connErr, tt.wantCode)
			}
		})
	}
}

// rawConn speaks the native protocol by hand, to see the frames a driver
// would never send.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	if err := nc.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return &rawConn{t: t, nc: nc, r: bufio.NewReader(nc)}
}

// roundTrip sends a request and returns the answer's opcode and body.
func (c *rawConn) roundTrip(op byte, body []byte) (byte, []byte) {
	c.t.Helper()
	frame := []byte{wire.ProtocolVersion, 0, 0, 1, op, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(frame[5:], uint32(len(body)))
	if _, err := c.nc.Write(append(frame, body...)); err != nil {
		c.t.Fatal(err)
	}
	hdr := make([]byte, wire.HeaderSize)
	if _, err := io.ReadFull(c.r, hdr); err != nil {
		c.t.Fatal(err)
	}
	resp := make([]byte, binary.BigEndian.Uint32(hdr[5:]))
	if _, err := io.ReadFull(c.r, resp); err != nil {
		c.t.Fatal(err)
	}
	return hdr[4], resp
}

// Before a login succeeds the server answers nothing but AUTH_RESPONSE,
// as ScyllaDB does, and a refused login may be retried on the same
// connection; PLAIN tokens are read the way ScyllaDB reads them.
func TestRequestsBeforeLoginAreRefused(t *testing.T) {
	srv, err := scyllaemu.Start(context.Background(), scyllaemu.Options{Users: map[string]string{"relay": "s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	c := dialRaw(t, srv.Addr())
	query := append(wire.AppendShort(wire.AppendLongString(nil, "SELECT release_version FROM system.local"), 1), 0) // ONE, no flags
	token := func(s string) []byte { return wire.AppendBytes(nil, []byte(s)) }

	steps := []struct {
		name     string
		op       byte
		body     []byte
		wantOp   byte
		wantCode int32  // of an ERROR
		wantText string // ERROR message, or AUTHENTICATE class
	}{
		{"options", wire.OpOptions, nil, wire.OpSupported, 0, ""},
		{"startup", wire.OpStartup, wire.AppendStringMap(nil, map[string]string{"CQL_VERSION": "3.0.0"}), wire.OpAuthenticate, 0, scyllaemu.PasswordAuthenticator},
		{"query while authenticating", wire.OpQuery, query, wire.OpError, wire.ProtocolError, "Unexpected message 7, expecting SASL_RESPONSE"},
		{"options while authenticating", wire.OpOptions, nil, wire.OpError, wire.ProtocolError, "Unexpected message 5, expecting SASL_RESPONSE"},
		{"startup while authenticating", wire.OpStartup, wire.AppendStringMap(nil, map[string]string{"CQL_VERSION": "3.0.0"}), wire.OpError, wire.ProtocolError, "Unexpected message 1, expecting SASL_RESPONSE"},
		{"wrong password", wire.OpAuthResponse, token("\x00relay\x00guess"), wire.OpError, wire.BadCredentials, "Username and/or password are incorrect"},
		{"no authzid: no user", wire.OpAuthResponse, token("relay\x00s3cret"), wire.OpError, wire.BadCredentials, "Authentication ID must not be null"},
		{"empty password", wire.OpAuthResponse, token("\x00relay\x00"), wire.OpError, wire.BadCredentials, "Authentication ID must not be null"},
		{"null token", wire.OpAuthResponse, wire.AppendBytes(nil, nil), wire.OpError, wire.BadCredentials, "Authentication ID must not be null"},
		{"right password, with an authzid", wire.OpAuthResponse, token("someone\x00relay\x00s3cret"), wire.OpAuthSuccess, 0, ""},
		{"query after login", wire.OpQuery, query, wire.OpResult, 0, ""},
	}
	for _, st := range steps {
		op, body := c.roundTrip(st.op, st.body)
		if op != st.wantOp {
			t.Fatalf("%s: answer opcode %#x %q, want %#x", st.name, op, body, st.wantOp)
		}
		r := wire.NewReader(body)
		switch op {
		case wire.OpError:
			code, msg := r.Int(), r.StringCopy()
			if code != st.wantCode || msg != st.wantText {
				t.Errorf("%s: error %#x %q, want %#x %q", st.name, code, msg, st.wantCode, st.wantText)
			}
		case wire.OpAuthenticate:
			if class := r.StringCopy(); class != st.wantText {
				t.Errorf("%s: authenticator %q, want %q", st.name, class, st.wantText)
			}
		case wire.OpAuthSuccess:
			// ScyllaDB ends PLAIN with an empty token, not a null one.
			if tok := r.Bytes(); tok == nil || len(tok) != 0 {
				t.Errorf("%s: token %v, want empty", st.name, tok)
			}
		}
		if err := r.Err(); err != nil {
			t.Errorf("%s: answer body: %v", st.name, err)
		}
	}
}

// The emulator serves TLS to the real driver: with a trusted certificate
// and, when it requires one, a client certificate. Handshakes that must
// fail do, with the errors of crypto/tls.
func TestTLS(t *testing.T) {
	ca, other := outboxtest.NewCA(t, ""), outboxtest.NewCA(t, "another CA")
	serverCert := outboxtest.ServingCert(ca.Issue(t, outboxtest.CertOptions{Server: true}))
	client := ca.Issue(t, outboxtest.CertOptions{})
	start := func(t *testing.T, requireClientCert bool) *scyllaemu.Server {
		var clientCA *outboxtest.CA
		if requireClientCert {
			clientCA = ca
		}
		srv, err := scyllaemu.Start(context.Background(), scyllaemu.Options{
			TLS: outboxtest.ServerTLS(serverCert, clientCA), Users: map[string]string{"relay": "s3cret"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Close() })
		return srv
	}
	login := gocql.PasswordAuthenticator{Username: "relay", Password: "s3cret"}
	tests := []struct {
		name              string
		requireClientCert bool
		tls               *tls.Config
		wantErr           string // in the last connection error; "" for success
	}{
		{"trusted server", false, outboxtest.ClientTLS(ca, nil), ""},
		{"client certificate required and given", true, outboxtest.ClientTLS(ca, client), ""},
		{"server signed by an untrusted CA", false, outboxtest.ClientTLS(other, nil), "x509: certificate signed by unknown authority"},
		{"client certificate required, none given", true, outboxtest.ClientTLS(ca, nil), "tls: certificate required"},
		// A Go client sends only a certificate of a CA the server asks
		// for, so to the server this one is no certificate at all.
		{"client certificate from an untrusted CA", true, outboxtest.ClientTLS(ca, other.Issue(t, outboxtest.CertOptions{})), "tls: certificate required"},
		{"expired client certificate", true, outboxtest.ClientTLS(ca, ca.Issue(t, outboxtest.CertOptions{NotAfter: time.Now().Add(-time.Hour)})), "tls: expired certificate"},
		{"plaintext client", false, nil, "EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := start(t, tt.requireClientCert)
			s, err, connErr := session(t, srv, login, tt.tls)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("CreateSession: %v (last connection error: %v)", err, connErr)
				}
				var v string
				if err := s.Query("SELECT release_version FROM system.local").Scan(&v); err != nil {
					t.Fatalf("query over TLS: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("CreateSession succeeded")
			}
			if connErr == nil || !strings.Contains(connErr.Error(), tt.wantErr) {
				t.Fatalf("connection error %v, want %q (CreateSession: %v)", connErr, tt.wantErr, err)
			}
		})
	}
}
