// Package kafkaemu owns the project's embedded Kafka broker: a single-node,
// in-process server speaking the Kafka wire protocol, built on franz-go's
// kfake, for the demo and for tests that exercise the real sarama client
// over loopback instead of a mock.
//
// It adds what outbox tests need on top of kfake: topics created at start,
// a broker-side message.max.bytes (so oversized records are rejected by the
// broker, as in production), data kept on disk, and a broker outage that
// can be switched off and on again on the same address with its data intact
// ([Broker.Stop], [Broker.Start], [Broker.Restart]), and TLS and SASL
// (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) as a secured cluster has them
// ([Options] TLS and Users), refusals worded as Kafka words them.
//
// kfake does not auto-create topics; a produce to a missing topic fails with
// UNKNOWN_TOPIC_OR_PARTITION, as on a production cluster with
// auto.create.topics.enable=false.
package kafkaemu

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// DefaultPartitions is the partition count of topics created without one.
const DefaultPartitions = 3

// ErrStopped is returned by operations that need a running broker while it
// is stopped, and by everything after Close.
var ErrStopped = errors.New("kafkaemu: broker is stopped")

// Options configures [Start].
type Options struct {
	// Addr is the "host:port" to listen on (default "127.0.0.1:0"; port 0
	// picks a free port, kept across restarts). The listening address is
	// also the address advertised to clients, so use a host clients can
	// dial (not 0.0.0.0 unless they run on the same machine).
	Addr string
	// Topics are created at start (if they do not already exist in
	// DataDir) with Partitions partitions.
	Topics []string
	// Partitions is the partition count of Topics and of topics created
	// with a non-positive count (default [DefaultPartitions]).
	Partitions int32
	// MaxMessageBytes is the broker's message.max.bytes: the largest
	// record batch it accepts, larger ones fail with MESSAGE_TOO_LARGE.
	// Zero keeps Kafka's default (1048588).
	MaxMessageBytes int
	// GroupMinSessionTimeout is the broker's group.min.session.timeout.ms:
	// a consumer group member asking for a shorter session timeout is
	// refused. Zero keeps Kafka's default (6 s); tests of group failover
	// lower it so that a lost member is noticed in well under a second.
	GroupMinSessionTimeout time.Duration
	// DataDir holds the log, topics and producer state, so data survives
	// [Broker.Restart] and a new [Start] on the same directory. When empty,
	// a temporary directory is used and removed by [Broker.Close]: a
	// restart still keeps data, as a real broker does.
	DataDir string
	// Logger receives kfake's logs (its info level as debug). Nil discards
	// them.
	Logger *zap.Logger
	// WrapConn, when set, wraps every client connection the broker
	// accepts, for faults the protocol-level controls of [Broker.Cluster]
	// cannot express, such as a connection dropped after the broker
	// processed a request and before the client read the answer. The
	// broker answers the requests of a connection one at a time, in
	// order, each answer with one write.
	WrapConn func(net.Conn) net.Conn
	// TLS, when set, makes the broker serve TLS only, configured by it
	// (certificates, and ClientAuth with ClientCAs to require client
	// certificates), like a listener with security.protocol SSL. The
	// broker terminates TLS itself rather than through kfake, so that
	// WrapConn sees the Kafka protocol, not ciphertext.
	TLS *tls.Config
	// Users, when not empty, requires every client to authenticate as one
	// of them (SASL) before any other request but ApiVersions, like a
	// SASL_PLAINTEXT listener (SASL_SSL with TLS). A refused login is
	// answered as Kafka answers it: SASL_AUTHENTICATION_FAILED with
	// Kafka's message, then the connection closes.
	Users []User
}

// Broker is a running (or stopped) embedded broker. It is safe for
// concurrent use.
type Broker struct {
	opts    Options
	host    string
	dataDir string
	tempDir bool

	mu       sync.Mutex
	port     int // fixed after the first start
	cluster  *kfake.Cluster
	closed   bool
	stopping *atomic.Bool // of the running cluster: set when it stops
}

// Start starts a broker. It returns once the broker accepts connections and
// its topics exist.
func Start(ctx context.Context, opts Options) (*Broker, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Partitions == 0 {
		opts.Partitions = DefaultPartitions
	}
	if opts.Partitions < 0 {
		return nil, fmt.Errorf("kafkaemu: Options.Partitions must be positive, got %d", opts.Partitions)
	}
	if opts.MaxMessageBytes < 0 {
		return nil, fmt.Errorf("kafkaemu: Options.MaxMessageBytes must not be negative, got %d", opts.MaxMessageBytes)
	}
	if opts.GroupMinSessionTimeout < 0 {
		return nil, fmt.Errorf("kafkaemu: Options.GroupMinSessionTimeout must not be negative, got %s", opts.GroupMinSessionTimeout)
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if err := validateUsers(opts.Users); err != nil {
		return nil, err
	}
	host, portStr, err := net.SplitHostPort(opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("kafkaemu: Options.Addr %q: %w", opts.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("kafkaemu: Options.Addr %q: bad port", opts.Addr)
	}
	b := &Broker{opts: opts, host: host, port: port, dataDir: opts.DataDir}
	if b.dataDir == "" {
		if b.dataDir, err = os.MkdirTemp("", "kafkaemu-*"); err != nil {
			return nil, fmt.Errorf("kafkaemu: data dir: %w", err)
		}
		b.tempDir = true
	}
	if err := b.Start(ctx); err != nil {
		if b.tempDir {
			_ = os.RemoveAll(b.dataDir)
		}
		return nil, err
	}
	return b, nil
}

// Start starts a stopped broker on the same address, with the data it had
// when it stopped. It waits, until ctx is done, for the port to become
// free (another process may hold it briefly). Starting a running broker is
// a no-op.
func (b *Broker) Start(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrStopped
	}
	if b.cluster != nil {
		return nil
	}
	b.stopping = &atomic.Bool{}
	opts := []kfake.Opt{
		kfake.Ports(b.port), // one port: one broker
		kfake.ListenFn(b.listen),
		kfake.DataDir(b.dataDir),
		kfake.DefaultNumPartitions(int(b.opts.Partitions)),
		kfake.WithLogger(zapLogger{b.opts.Logger.Named("kfake")}),
	}
	opts = append(opts, saslOpts(b.opts.Users)...)
	if b.opts.MaxMessageBytes > 0 {
		opts = append(opts, kfake.BrokerConfigs(map[string]string{
			"message.max.bytes": strconv.Itoa(b.opts.MaxMessageBytes),
		}))
	}
	if b.opts.GroupMinSessionTimeout > 0 {
		opts = append(opts, kfake.GroupMinSessionTimeout(b.opts.GroupMinSessionTimeout))
	}
	for {
		c, err := kfake.NewCluster(opts...)
		if err == nil {
			b.cluster = c
			break
		}
		if !errors.Is(err, syscall.EADDRINUSE) || b.port == 0 {
			return fmt.Errorf("kafkaemu: start: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafkaemu: start on port %d: %w (last error: %v)", b.port, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if b.port == 0 {
		_, p, _ := net.SplitHostPort(b.cluster.ListenAddrs()[0])
		b.port, _ = strconv.Atoi(p)
	}
	for _, t := range b.opts.Topics {
		if err := b.createTopic(t, b.opts.Partitions, nil); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			b.cluster.Close()
			b.cluster = nil
			return err
		}
	}
	b.opts.Logger.Debug("kafkaemu: broker started", zap.String("addr", b.addr()), zap.String("data_dir", b.dataDir))
	return nil
}

// listen binds kfake's listener on the configured host (kfake itself
// always binds 127.0.0.1), with TLS, the SASL watch and WrapConn, in that
// order from the network up. The caller holds mu.
func (b *Broker) listen(network, address string) (net.Listener, error) {
	_, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen(network, net.JoinHostPort(b.host, port))
	if err != nil {
		return nil, err
	}
	if b.opts.TLS != nil {
		ln = tls.NewListener(ln, b.opts.TLS)
	}
	if len(b.opts.Users) > 0 {
		stopping := b.stopping
		ln = wrappedListener{ln, func(c net.Conn) net.Conn { return &saslAnswer{Conn: c, stopping: stopping} }}
	}
	if b.opts.WrapConn != nil {
		ln = wrappedListener{ln, b.opts.WrapConn}
	}
	return ln, nil
}

// wrappedListener applies Options.WrapConn to accepted connections.
type wrappedListener struct {
	net.Listener
	wrap func(net.Conn) net.Conn
}

func (l wrappedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.wrap(c), nil
}

// Stop simulates a broker outage: it persists the data, closes the listener
// and every client connection (clients see their connections reset and new
// dials refused) and keeps the address for [Broker.Start]. Stopping a
// stopped broker is a no-op.
func (b *Broker) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopLocked()
}

func (b *Broker) stopLocked() {
	if b.cluster == nil {
		return
	}
	b.stopping.Store(true)
	b.cluster.Close()
	b.cluster = nil
	b.opts.Logger.Debug("kafkaemu: broker stopped", zap.String("addr", b.addr()))
}

// Restart stops and starts the broker on the same address with its data.
func (b *Broker) Restart(ctx context.Context) error {
	b.Stop()
	return b.Start(ctx)
}

// Close stops the broker for good and removes its data directory if
// [Start] created it. It is idempotent.
func (b *Broker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.stopLocked()
	b.closed = true
	if b.tempDir {
		return os.RemoveAll(b.dataDir)
	}
	return nil
}

// Addr returns the broker's "host:port", stable across restarts.
func (b *Broker) Addr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.addr()
}

func (b *Broker) addr() string { return net.JoinHostPort(b.host, strconv.Itoa(b.port)) }

// Brokers returns []string{Addr()}, the form client configs take.
func (b *Broker) Brokers() []string { return []string{b.Addr()} }

// Running reports whether the broker is started.
func (b *Broker) Running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cluster != nil
}

// DataDir returns the directory holding the broker's data.
func (b *Broker) DataDir() string { return b.dataDir }

// Cluster returns the running kfake cluster, for fault injection
// (ControlKey, faults), or nil while stopped. A restart replaces it.
func (b *Broker) Cluster() *kfake.Cluster {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cluster
}

// CreateTopic creates a topic on the running broker; partitions <= 0 means
// Options.Partitions. configs are Kafka topic configs, for example
// {"max.message.bytes": "1000"}, nil for none. Creating an existing topic
// fails with an error wrapping kerr.TopicAlreadyExists.
func (b *Broker) CreateTopic(name string, partitions int32, configs map[string]string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cluster == nil {
		return ErrStopped
	}
	return b.createTopic(name, partitions, configs)
}

func (b *Broker) createTopic(name string, partitions int32, configs map[string]string) error {
	if partitions <= 0 {
		partitions = b.opts.Partitions
	}
	if err := b.cluster.CreateTopic(name, partitions, configs); err != nil {
		return fmt.Errorf("kafkaemu: create topic %q: %w", name, err)
	}
	return nil
}

// zapLogger adapts zap to kfake's logger. kfake logs every request at info,
// so its info and debug both map to debug.
type zapLogger struct{ log *zap.Logger }

func (z zapLogger) Logf(level kfake.LogLevel, msg string, args ...any) {
	var l zapcore.Level
	switch level {
	case kfake.LogLevelError:
		l = zapcore.ErrorLevel
	case kfake.LogLevelWarn:
		l = zapcore.WarnLevel
	case kfake.LogLevelInfo, kfake.LogLevelDebug:
		l = zapcore.DebugLevel
	default:
		return
	}
	if ce := z.log.Check(l, ""); ce != nil {
		ce.Message = fmt.Sprintf(msg, args...)
		ce.Write()
	}
}
