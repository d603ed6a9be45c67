package storage

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/gocql/gocql"

	"github.com/scylla-outbox/scylla-outbox/internal/connsec"
)

// connectErrors keeps the error of the last failed connection attempt of
// a session being created. gocql turns the cause of a failed
// CreateSession into text ("unable to connect to the cluster, last error:
// ..."); its connect observer still sees the error with its type: a
// crypto/tls or x509 error, or the server's answer to the login.
type connectErrors struct {
	mu   sync.Mutex
	last error
}

func (c *connectErrors) ObserveConnect(o gocql.ObservedConnect) {
	if o.Err != nil {
		c.mu.Lock()
		c.last = o.Err
		c.mu.Unlock()
	}
}

func (c *connectErrors) get() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// explain returns a *connsec.Error when the last connection attempt (last)
// failed for a reason one of c's fields controls (the TLS handshake, the
// login), naming that field; otherwise err, the session's error.
func (c Config) explain(err, last error) error {
	if last == nil {
		return err
	}
	if c.TLS != nil {
		if e := connsec.TLS(last, "ScyllaDB", connsec.Client{CAFile: c.TLS.CAFile, CertFile: c.TLS.CertFile}); e != nil {
			return e
		}
	}
	var re gocql.RequestError
	switch {
	case errors.As(last, &re) && re.Code() == gocql.ErrCodeCredentials:
		return &connsec.Error{Field: "Password", Err: last,
			Reason: fmt.Sprintf("ScyllaDB refused the credentials of user %q", c.Username)}
	case c.Username == "" && strings.HasPrefix(last.Error(), "authentication required"):
		// gocql's own words when the server asks for a login and the
		// session has no authenticator.
		return &connsec.Error{Field: "Username", Err: last,
			Reason: "ScyllaDB requires a login, and no user name is configured"}
	}
	return err
}
