package scyllaemu

import (
	"crypto/subtle"
	"fmt"
	"maps"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu/wire"
)

// PasswordAuthenticator is the authenticator class the server names in its
// AUTHENTICATE answer when [Options] has Users, as ScyllaDB configured with
// authenticator: PasswordAuthenticator does. Drivers may check it against
// a list of allowed authenticators (gocql's
// PasswordAuthenticator.AllowedAuthenticators).
const PasswordAuthenticator = "org.apache.cassandra.auth.PasswordAuthenticator"

// ScyllaDB's messages, word for word: what its password authenticator
// throws (as an authentication error, code 0x0100) and what its CQL server
// answers a request sent while authentication is under way.
const (
	msgBadCredentials = "Username and/or password are incorrect"
	msgNoUser         = "Authentication ID must not be null"
	msgNoPassword     = "Password must not be null"
	msgExpectAuth     = "Unexpected message %d, expecting SASL_RESPONSE"
)

// copyUsers copies Options.Users; nil when there are none, which leaves
// authentication off.
func copyUsers(u map[string]string) map[string]string {
	if len(u) == 0 {
		return nil
	}
	return maps.Clone(u)
}

// requireLogin answers a STARTUP when the server has users: AUTHENTICATE,
// after which the connection accepts only AUTH_RESPONSE until a login
// succeeds (see authenticate). The caller checked the STARTUP itself.
func (c *conn) requireLogin(out []byte, hdr wire.Header) []byte {
	c.authenticating = true
	start := len(out)
	out = wire.StartFrame(out, wire.ProtocolVersion, 0, hdr.Stream, wire.OpAuthenticate)
	out = wire.AppendAuthenticate(out, PasswordAuthenticator)
	wire.FinishFrame(out[start:])
	return out
}

// authenticate answers a request on a connection that was told to
// authenticate, as ScyllaDB does: anything but AUTH_RESPONSE is a protocol
// error; an AUTH_RESPONSE carries a SASL PLAIN token
// (authzid NUL user NUL password) and gets AUTH_SUCCESS or an
// authentication error, after which the client may try again on the same
// connection.
func (c *conn) authenticate(out []byte, hdr wire.Header, body []byte) []byte {
	if hdr.Opcode != wire.OpAuthResponse {
		return c.protocolError(out, hdr, fmt.Sprintf(msgExpectAuth, hdr.Opcode))
	}
	token, err := wire.DecodeAuthResponse(body)
	if err != nil {
		return c.protocolError(out, hdr, err.Error())
	}
	start := len(out)
	if msg := c.login(token); msg != "" {
		out = wire.StartFrame(out, wire.ProtocolVersion, 0, hdr.Stream, wire.OpError)
		out = wire.AppendError(out, wire.BadCredentials, msg)
		wire.FinishFrame(out[start:])
		return out
	}
	c.authenticating, c.started = false, true
	out = wire.StartFrame(out, wire.ProtocolVersion, 0, hdr.Stream, wire.OpAuthSuccess)
	// ScyllaDB's PLAIN exchange ends with an empty token, not a null one.
	out = wire.AppendAuthSuccess(out, []byte{})
	wire.FinishFrame(out[start:])
	return out
}

// login checks a SASL PLAIN token against the server's users; it returns
// ScyllaDB's message for a refusal, "" for a success.
func (c *conn) login(token []byte) string {
	user, password := splitPlain(token)
	switch {
	case user == "":
		return msgNoUser
	case password == "":
		return msgNoPassword
	}
	want, ok := c.srv.users[user]
	// Compared in constant time like a hash check, so the answer's timing
	// does not tell how much of a guess was right.
	if !ok || subtle.ConstantTimeCompare([]byte(want), []byte(password)) != 1 {
		return msgBadCredentials
	}
	return ""
}

// splitPlain reads a SASL PLAIN token the way ScyllaDB does: walking back
// from the end, the text after the last NUL is the password and the text
// between the last two the user; the authorization id before them is
// ignored, and a token without two NULs lacks a user.
func splitPlain(token []byte) (user, password string) {
	end := len(token)
	for i := len(token) - 1; i >= 0; i-- {
		if token[i] != 0 {
			continue
		}
		field := string(token[i+1 : end])
		switch {
		case password == "":
			password = field
		case user == "":
			user = field
		}
		end = i
	}
	return user, password
}
