package kafkaemu

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SASL mechanisms a [User] may log in with.
const (
	PLAIN       = "PLAIN"
	SCRAMSHA256 = "SCRAM-SHA-256"
	SCRAMSHA512 = "SCRAM-SHA-512"
)

// User is a SASL login the broker accepts.
type User struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; a user logs in
	// with that mechanism only, as on Kafka, where SCRAM credentials are
	// stored per mechanism.
	Mechanism string
	Name      string
	Password  string
}

func validateUsers(users []User) error {
	for i, u := range users {
		switch {
		case u.Mechanism != PLAIN && u.Mechanism != SCRAMSHA256 && u.Mechanism != SCRAMSHA512:
			return fmt.Errorf("kafkaemu: Options.Users[%d].Mechanism %q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", i, u.Mechanism)
		case u.Name == "":
			return fmt.Errorf("kafkaemu: Options.Users[%d].Name is empty", i)
		case u.Password == "":
			return fmt.Errorf("kafkaemu: Options.Users[%d].Password is empty", i)
		}
	}
	return nil
}

// saslOpts are kfake's options for users: SASL on, each user a superuser
// (the broker has no ACLs to grant).
func saslOpts(users []User) []kfake.Opt {
	if len(users) == 0 {
		return nil
	}
	opts := []kfake.Opt{kfake.EnableSASL()}
	for _, u := range users {
		opts = append(opts, kfake.Superuser(u.Mechanism, u.Name, u.Password))
	}
	return opts
}

// Kafka's answers to a failed SASL exchange (SaslServerAuthenticator):
// PLAIN's own message, and for SCRAM the generic one Kafka sends instead
// of the mechanism's so as not to tell a missing user from a bad password.
const (
	msgPlainFailed = "Authentication failed: Invalid username or password"
	msgSCRAMFailed = "Authentication failed during authentication due to invalid credentials with SASL mechanism "
)

// Request keys the SASL watch looks at.
const (
	keySASLHandshake    = 17
	keyApiVersions      = 18
	keySASLAuthenticate = 36
)

// maxWatchedFrame bounds what the watch buffers: SASL requests are small,
// and a larger frame means the exchange is over (or never started).
const maxWatchedFrame = 64 << 10

// saslAnswer makes a refused SASL login end as it does on Kafka. kfake
// closes the connection without a word when it refuses credentials;
// Kafka first answers the SaslAuthenticate request with
// SASL_AUTHENTICATION_FAILED and a message, which clients report (sarama:
// ErrSASLAuthenticationFailed with the message). The watch follows a
// connection's requests until authentication is over and, when kfake
// closes the connection with a SaslAuthenticate unanswered, writes that
// answer before closing.
type saslAnswer struct {
	net.Conn
	stopping *atomic.Bool // set while the broker stops: its closes are no refusals

	mu        sync.Mutex
	in        []byte // request bytes not yet framed
	out       int    // response bytes left of the frame being written
	outHdr    []byte // the start of a response frame, until its correlation id is known
	mechanism string // from the SaslHandshake request
	pending   *kmsg.SASLAuthenticateRequest
	corr      int32 // of pending
	over      bool  // authentication is over, or this is no SASL client: stop watching
}

func (c *saslAnswer) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.sawRequests(p[:n])
		c.mu.Unlock()
	}
	return n, err
}

// sawRequests follows the request stream. The caller holds mu.
func (c *saslAnswer) sawRequests(b []byte) {
	if c.over {
		return
	}
	c.in = append(c.in, b...)
	for len(c.in) >= 4 {
		size := int(binary.BigEndian.Uint32(c.in))
		if size < 8 || size > maxWatchedFrame {
			c.stopWatching()
			return
		}
		if len(c.in) < 4+size {
			return
		}
		frame := c.in[4 : 4+size]
		key, version := int16(binary.BigEndian.Uint16(frame)), int16(binary.BigEndian.Uint16(frame[2:]))
		corr := int32(binary.BigEndian.Uint32(frame[4:]))
		switch key {
		case keyApiVersions:
		case keySASLHandshake:
			req := kmsg.NewPtrSASLHandshakeRequest()
			req.SetVersion(version)
			if body, ok := skipClientID(frame[8:]); ok && req.ReadFrom(body) == nil {
				c.mechanism = req.Mechanism
			}
		case keySASLAuthenticate:
			req := kmsg.NewPtrSASLAuthenticateRequest()
			req.SetVersion(version)
			c.pending, c.corr = req, corr
		default:
			c.stopWatching()
			return
		}
		c.in = c.in[4+size:]
	}
}

func (c *saslAnswer) stopWatching() {
	c.over, c.in, c.pending = true, nil, nil
}

// skipClientID skips a request header's nullable client id; SASL handshake
// requests have no tagged fields in their header.
func skipClientID(b []byte) ([]byte, bool) {
	if len(b) < 2 {
		return nil, false
	}
	n := int(int16(binary.BigEndian.Uint16(b)))
	if n < 0 {
		n = 0
	}
	if len(b) < 2+n {
		return nil, false
	}
	return b[2+n:], true
}

func (c *saslAnswer) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.sawResponses(p)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// sawResponses follows the response stream far enough to see the answer to
// a pending SaslAuthenticate go out. The caller holds mu.
func (c *saslAnswer) sawResponses(b []byte) {
	for len(b) > 0 && !c.over {
		if c.out > 0 {
			skip := min(c.out, len(b))
			c.out -= skip
			b = b[skip:]
			continue
		}
		need := 8 - len(c.outHdr) // size and correlation id
		take := min(need, len(b))
		c.outHdr = append(c.outHdr, b[:take]...)
		b = b[take:]
		if len(c.outHdr) < 8 {
			return
		}
		if c.pending != nil && int32(binary.BigEndian.Uint32(c.outHdr[4:])) == c.corr {
			c.pending = nil
		}
		c.out = int(binary.BigEndian.Uint32(c.outHdr)) - 4
		c.outHdr = c.outHdr[:0]
	}
}

// Close answers an unanswered SaslAuthenticate before closing: kfake
// closes a connection at once when it refuses a login.
func (c *saslAnswer) Close() error {
	c.mu.Lock()
	var answer []byte
	if c.pending != nil && c.mechanism != "" && !c.stopping.Load() {
		answer = refusal(c.pending, c.corr, c.mechanism)
	}
	c.pending = nil
	c.mu.Unlock()
	var werr error
	if answer != nil {
		_, werr = c.Conn.Write(answer)
	}
	// The client may have gone first; its close, not the answer, is then
	// the story.
	if errors.Is(werr, net.ErrClosed) {
		werr = nil
	}
	return errors.Join(werr, c.Conn.Close())
}

// refusal is Kafka's answer to a refused login: the response frame of req
// with SASL_AUTHENTICATION_FAILED and Kafka's message for the mechanism.
func refusal(req *kmsg.SASLAuthenticateRequest, corr int32, mechanism string) []byte {
	msg := msgSCRAMFailed + mechanism
	if mechanism == PLAIN {
		msg = msgPlainFailed
	}
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
	resp.ErrorMessage = &msg
	buf := make([]byte, 8, 64)
	if resp.IsFlexible() {
		buf = append(buf, 0) // the response header's empty tagged fields
	}
	buf = resp.AppendTo(buf)
	binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
	binary.BigEndian.PutUint32(buf[4:], uint32(corr))
	return buf
}
