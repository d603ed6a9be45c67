package storage

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gocql/gocql"
	"github.com/scylladb/gocqlx/v2"
	"go.uber.org/zap"
)

// Defaults for the zero values of [Config].
const (
	// DefaultHost is the contact point a configuration starts from.
	DefaultHost           = "127.0.0.1:9042"
	DefaultConsistency    = "LOCAL_QUORUM"
	DefaultTimeout        = 5 * time.Second
	DefaultConnectTimeout = 5 * time.Second
	DefaultNumConns       = 2
)

// ReconnectInterval is how often a session tries again a node it saw go
// down (gocql's default: 60 s).
const ReconnectInterval = 2 * time.Second

// Config is how services connect to ScyllaDB. The zero value of every field
// except Hosts selects a default.
type Config struct {
	// Hosts are the contact points, "host" or "host:port" (port 9042 when
	// omitted; bracket IPv6 addresses that carry a port: "[::1]:9042").
	// The driver discovers the rest of the cluster from them.
	Hosts []string
	// Keyspace, when set, is the session's default keyspace and must
	// already exist (see package schema). Leave it empty for the session
	// that applies the schema.
	Keyspace string
	// Consistency is the consistency level of reads and writes, as
	// ScyllaDB spells it (default LOCAL_QUORUM). Lightweight transactions
	// use LOCAL_SERIAL under a LOCAL_* level and SERIAL otherwise.
	Consistency string
	// Timeout bounds each request (default 5 s).
	Timeout time.Duration
	// ConnectTimeout bounds dialling and the connection handshake
	// (default 5 s). It is what bounds NewSession when hosts are
	// unreachable.
	ConnectTimeout time.Duration
	// NumConns is the number of connections per host (default 2).
	NumConns int
	// LocalDC, when set, confines queries to that data centre's nodes
	// (DC-aware, token-aware routing); other data centres are not used
	// for queries at all.
	LocalDC string
	// Username and Password enable password authentication; both or
	// neither.
	Username string
	Password string
	// TLS, when non-nil, encrypts connections.
	TLS *TLSConfig
	// DriverLog receives gocql's own log lines, at Debug: every failure
	// they tell of also reaches the caller as an error, which names the
	// setting to fix, so printing them too (gocql's default, on stderr)
	// says it twice. Nil discards them.
	DriverLog *zap.Logger
}

// TLSConfig configures TLS to ScyllaDB.
type TLSConfig struct {
	// CAFile is a PEM bundle of CAs to trust instead of the system pool.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and key, for
	// clusters that require client authentication; both or neither.
	CertFile string
	KeyFile  string
	// InsecureSkipVerify disables server certificate and host name
	// verification. For tests only.
	InsecureSkipVerify bool
}

var keyspaceName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,47}$`)

// Validate reports the first invalid field, naming it, as an error starting
// "storage: config: ". It checks shape only; files and hosts are touched by
// [Config.ClusterConfig] and [NewSession].
func (c Config) Validate() error {
	if len(c.Hosts) == 0 {
		return errors.New("storage: config: Hosts must list at least one contact point")
	}
	for i, h := range c.Hosts {
		if err := validateHost(h); err != nil {
			return fmt.Errorf("storage: config: Hosts[%d] %q: %v", i, h, err)
		}
	}
	if c.Keyspace != "" && !keyspaceName.MatchString(c.Keyspace) {
		return fmt.Errorf("storage: config: Keyspace %q must be a lower-case CQL identifier (a letter, then letters, digits or '_', at most 48)", c.Keyspace)
	}
	if _, err := c.consistency(); err != nil {
		return err
	}
	switch {
	case c.Timeout < 0:
		return fmt.Errorf("storage: config: Timeout must not be negative, got %v", c.Timeout)
	case c.ConnectTimeout < 0:
		return fmt.Errorf("storage: config: ConnectTimeout must not be negative, got %v", c.ConnectTimeout)
	case c.NumConns < 0:
		return fmt.Errorf("storage: config: NumConns must not be negative, got %d", c.NumConns)
	case (c.Username == "") != (c.Password == ""):
		return errors.New("storage: config: Username and Password must be set together")
	case strings.TrimSpace(c.LocalDC) != c.LocalDC:
		return fmt.Errorf("storage: config: LocalDC %q has surrounding spaces", c.LocalDC)
	}
	if c.TLS != nil && (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return errors.New("storage: config: TLS.CertFile and TLS.KeyFile must be set together")
	}
	return nil
}

func validateHost(h string) error {
	if h == "" || strings.TrimSpace(h) != h || strings.ContainsAny(h, " \t/") {
		return errors.New("must be a host name or address, optionally with :port")
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		// No port: a bare name or address. A bare IPv6 address also lands
		// here, and is fine.
		if strings.Count(h, ":") == 1 {
			return fmt.Errorf("invalid host:port: %v", err)
		}
		return nil
	}
	if host == "" {
		return errors.New("host is empty")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q must be a number from 1 to 65535", port)
	}
	return nil
}

func (c Config) consistency() (gocql.Consistency, error) {
	s := c.Consistency
	if s == "" {
		s = DefaultConsistency
	}
	cl, err := gocql.ParseConsistencyWrapper(s)
	if err != nil {
		return 0, fmt.Errorf("storage: config: Consistency %q is not a consistency level (e.g. LOCAL_QUORUM, QUORUM, ONE): %w", c.Consistency, err)
	}
	return cl, nil
}

// ClusterConfig validates c and returns the gocql configuration it
// describes, so components that need their own gocql session (the CDC
// reader) connect with exactly the settings of [NewSession]. TLS files are
// read here. Call it once per session: the host selection policy in the
// result must not be shared between sessions.
func (c Config) ClusterConfig() (*gocql.ClusterConfig, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	cl, _ := c.consistency()
	cluster := gocql.NewCluster(c.Hosts...)
	cluster.Keyspace = c.Keyspace
	cluster.Consistency = cl
	// LWTs (the order leases) need a serial level; LOCAL_SERIAL keeps
	// them inside the local data centre like the LOCAL_* level does.
	cluster.SerialConsistency = gocql.Serial
	if strings.HasPrefix(cl.String(), "LOCAL_") {
		cluster.SerialConsistency = gocql.LocalSerial
	}
	cluster.Timeout = orDefault(c.Timeout, DefaultTimeout)
	// gocql's socket read and write timeouts (which detect a stuck
	// connection) default to 11 s regardless of Timeout; keep them within
	// a request's budget.
	cluster.ReadTimeout = cluster.Timeout
	cluster.WriteTimeout = cluster.Timeout
	cluster.ConnectTimeout = orDefault(c.ConnectTimeout, DefaultConnectTimeout)
	// gocql marks a node down when its connections drop and by default
	// tries it again only every 60 s (or at its control connection's next
	// heartbeat, up to 30 s): a relay or writer would stay stalled that
	// long after ScyllaDB came back. A connection attempt every few
	// seconds to a node that is down costs nothing.
	cluster.ReconnectInterval = ReconnectInterval
	cluster.Logger = driverLog{c.DriverLog}
	cluster.NumConns = c.NumConns
	if cluster.NumConns == 0 {
		cluster.NumConns = DefaultNumConns
	}
	if c.LocalDC != "" {
		cluster.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(gocql.DCAwareRoundRobinPolicy(c.LocalDC))
	} else {
		cluster.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(gocql.RoundRobinHostPolicy())
	}
	if c.Username != "" {
		cluster.Authenticator = gocql.PasswordAuthenticator{Username: c.Username, Password: c.Password}
	}
	if c.TLS != nil {
		tc, err := c.TLS.build()
		if err != nil {
			return nil, err
		}
		cluster.SslOpts = &gocql.SslOptions{Config: tc, EnableHostVerification: !c.TLS.InsecureSkipVerify}
	}
	return cluster, nil
}

// KeyspaceMissingError is NewSession's error when [Config.Keyspace] does
// not exist on a cluster that answers.
type KeyspaceMissingError struct {
	Keyspace string
	Err      error // the driver's
}

func (e *KeyspaceMissingError) Error() string {
	return fmt.Sprintf("keyspace %q does not exist: run `outbox migrate` to create it, or fix the keyspace name", e.Keyspace)
}

func (e *KeyspaceMissingError) Unwrap() error { return e.Err }

// keyspaceMissing reports whether the cluster answers without cfg's
// keyspace. A session whose every connection failed to USE its default
// keyspace fails with gocql's "no connections were made", the cause only in
// gocql's log; a session without a keyspace asks.
func (cfg Config) keyspaceMissing(ctx context.Context) bool {
	probe := cfg
	probe.Keyspace = ""
	s, err := NewSession(ctx, probe)
	if err != nil {
		return false
	}
	defer s.Close()
	var name string
	err = s.Query(`SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?`, nil).
		WithContext(ctx).Bind(cfg.Keyspace).Scan(&name)
	return errors.Is(err, gocql.ErrNotFound)
}

// driverLog is gocql's StdLogger over zap at Debug.
type driverLog struct{ log *zap.Logger }

func (d driverLog) Print(v ...any) { d.write(fmt.Sprint(v...)) }

func (d driverLog) Printf(format string, v ...any) { d.write(fmt.Sprintf(format, v...)) }

func (d driverLog) Println(v ...any) { d.write(fmt.Sprintln(v...)) }

func (d driverLog) write(msg string) {
	if d.log != nil {
		d.log.Debug(strings.TrimSpace(msg))
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func (t *TLSConfig) build() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // opt-in, documented as test-only
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("storage: config: TLS.CAFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("storage: config: TLS.CAFile %s: no PEM certificates found", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("storage: config: TLS.CertFile/TLS.KeyFile: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// NewSession connects to the cluster c describes and wraps the session for
// gocqlx. It returns when the driver has connected or failed, or when ctx is
// done (a session that connects after that is closed). Failures wrap the
// driver's error and name the hosts; a connection refused for a TLS or
// login reason fails with a *connsec.Error naming the Config field to fix.
func NewSession(ctx context.Context, cfg Config) (gocqlx.Session, error) {
	cluster, err := cfg.ClusterConfig()
	if err != nil {
		return gocqlx.Session{}, err
	}
	attempts := &connectErrors{}
	cluster.ConnectObserver = attempts
	type result struct {
		s   *gocql.Session
		err error
	}
	// gocql's CreateSession takes no context; run it aside so a cancelled
	// ctx returns promptly. It is itself bounded by ConnectTimeout.
	done := make(chan result, 1)
	go func() {
		s, err := cluster.CreateSession()
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			err := cfg.explain(r.err, attempts.get())
			if errors.Is(r.err, gocql.ErrNoConnectionsStarted) && cfg.Keyspace != "" && cfg.keyspaceMissing(ctx) {
				err = &KeyspaceMissingError{Keyspace: cfg.Keyspace, Err: r.err}
			}
			return gocqlx.Session{}, fmt.Errorf("storage: connect to %s: %w", strings.Join(cfg.Hosts, ","), err)
		}
		return gocqlx.NewSession(r.s), nil
	case <-ctx.Done():
		go func() {
			if r := <-done; r.s != nil {
				r.s.Close()
			}
		}()
		return gocqlx.Session{}, fmt.Errorf("storage: connect to %s: %w", strings.Join(cfg.Hosts, ","), ctx.Err())
	}
}
