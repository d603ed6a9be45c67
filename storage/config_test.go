package storage

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"
	"github.com/scylla-outbox/scylla-outbox/internal/outboxtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestConfigValidate(t *testing.T) {
	ok := Config{Hosts: []string{"10.0.0.1"}}
	tests := []struct {
		name   string
		change func(*Config)
		want   string // "" = valid
	}{
		{"minimal", func(*Config) {}, ""},
		{"host:port and names", func(c *Config) { c.Hosts = []string{"scylla-1:19042", "scylla-2", "[::1]:9042", "::1"} }, ""},
		{"everything", func(c *Config) {
			*c = Config{Hosts: []string{"h"}, Keyspace: "outbox", Consistency: "local_one", Timeout: time.Second,
				ConnectTimeout: time.Second, NumConns: 4, LocalDC: "eu-west", Username: "u", Password: "p",
				TLS: &TLSConfig{CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "k.pem"}}
		}, ""},
		{"no hosts", func(c *Config) { c.Hosts = nil }, "Hosts must list"},
		{"empty host", func(c *Config) { c.Hosts = []string{"a", ""} }, "Hosts[1]"},
		{"url", func(c *Config) { c.Hosts = []string{"tcp://a:9042"} }, "Hosts[0]"},
		{"bad port", func(c *Config) { c.Hosts = []string{"a:http"} }, "port"},
		{"port zero", func(c *Config) { c.Hosts = []string{"a:0"} }, "port"},
		{"port too big", func(c *Config) { c.Hosts = []string{"a:70000"} }, "port"},
		{"no host before port", func(c *Config) { c.Hosts = []string{":9042"} }, "host is empty"},
		{"bad keyspace", func(c *Config) { c.Keyspace = "Outbox" }, "Keyspace"},
		{"bad consistency", func(c *Config) { c.Consistency = "MOST" }, "Consistency"},
		{"negative timeout", func(c *Config) { c.Timeout = -1 }, "Timeout"},
		{"negative connect timeout", func(c *Config) { c.ConnectTimeout = -1 }, "ConnectTimeout"},
		{"negative conns", func(c *Config) { c.NumConns = -1 }, "NumConns"},
		{"user without password", func(c *Config) { c.Username = "u" }, "Username and Password"},
		{"password without user", func(c *Config) { c.Password = "p" }, "Username and Password"},
		{"cert without key", func(c *Config) { c.TLS = &TLSConfig{CertFile: "c.pem"} }, "TLS.CertFile and TLS.KeyFile"},
		{"spaced dc", func(c *Config) { c.LocalDC = " dc1" }, "LocalDC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.change(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "storage: config: ")):
				t.Fatalf("Validate() = %v, want an error naming %q", err, tt.want)
			}
		})
	}
}

func TestClusterConfig(t *testing.T) {
	c, err := Config{Hosts: []string{"h:1"}}.ClusterConfig()
	if err != nil {
		t.Fatal(err)
	}
	if c.Consistency != gocql.LocalQuorum || c.SerialConsistency != gocql.LocalSerial ||
		c.Timeout != DefaultTimeout || c.ConnectTimeout != DefaultConnectTimeout || c.NumConns != DefaultNumConns || c.ReconnectInterval != ReconnectInterval ||
		c.Authenticator != nil || c.SslOpts != nil || c.PoolConfig.HostSelectionPolicy == nil {
		t.Errorf("defaults: %+v", c)
	}

	c, err = Config{Hosts: []string{"h"}, Keyspace: "ks", Consistency: "quorum", Timeout: time.Second, ConnectTimeout: 2 * time.Second,
		NumConns: 3, LocalDC: "dc1", Username: "u", Password: "p", TLS: &TLSConfig{InsecureSkipVerify: true}}.ClusterConfig()
	if err != nil {
		t.Fatal(err)
	}
	if c.Keyspace != "ks" || c.Consistency != gocql.Quorum || c.SerialConsistency != gocql.Serial ||
		c.Timeout != time.Second || c.ReadTimeout != time.Second || c.ConnectTimeout != 2*time.Second || c.NumConns != 3 {
		t.Errorf("explicit settings: %+v", c)
	}
	if a, ok := c.Authenticator.(gocql.PasswordAuthenticator); !ok || a.Username != "u" || a.Password != "p" {
		t.Errorf("authenticator = %#v", c.Authenticator)
	}
	if c.SslOpts == nil || !c.SslOpts.Config.InsecureSkipVerify || c.SslOpts.EnableHostVerification {
		t.Errorf("TLS = %+v", c.SslOpts)
	}

	// gocql's own log lines go to DriverLog at Debug, or nowhere: the
	// errors they tell of are returned anyway.
	core, logs := observer.New(zap.DebugLevel)
	c, err = Config{Hosts: []string{"h"}, DriverLog: zap.New(core)}.ClusterConfig()
	if err != nil {
		t.Fatal(err)
	}
	c.Logger.Printf("error: failed to connect to %s\n", "h")
	if e := logs.All(); len(e) != 1 || e[0].Level != zap.DebugLevel || e[0].Message != "error: failed to connect to h" {
		t.Errorf("driver log lines: %v", e)
	}

	// TLS files are read here, with errors naming the field.
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		tls  TLSConfig
		want string
	}{
		{TLSConfig{CAFile: filepath.Join(dir, "missing.pem")}, "TLS.CAFile"},
		{TLSConfig{CAFile: notPEM}, "no PEM certificates"},
		{TLSConfig{CertFile: notPEM, KeyFile: notPEM}, "TLS.CertFile/TLS.KeyFile"},
	} {
		if _, err := (Config{Hosts: []string{"h"}, TLS: &tt.tls}).ClusterConfig(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ClusterConfig(TLS %+v) = %v, want error containing %q", tt.tls, err, tt.want)
		}
	}
	if _, err := (Config{}).ClusterConfig(); err == nil {
		t.Error("ClusterConfig of an invalid Config succeeded")
	}
}

func TestNewSessionConnects(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	// The keyspace exists (newEnv applied the schema), so a session may
	// default to it; LocalDC names the emulator's data centre.
	s, err := NewSession(ctx, Config{Hosts: []string{env.addr}, Keyspace: testKeyspace, LocalDC: "datacenter1", ConnectTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var n int
	if err := s.Query(`SELECT COUNT(*) FROM orders`, nil).Scan(&n); err != nil {
		t.Fatalf("query in default keyspace: %v", err)
	}

	// gocql says why only in its log; the error must say it itself, and
	// name the setting.
	_, err = NewSession(ctx, Config{Hosts: []string{env.addr}, Keyspace: "no_such_keyspace"})
	var missing *KeyspaceMissingError
	if !errors.As(err, &missing) || missing.Keyspace != "no_such_keyspace" || !strings.Contains(err.Error(), `keyspace "no_such_keyspace" does not exist`) {
		t.Errorf("NewSession with a missing keyspace: %v, want the keyspace named as missing", err)
	}
}

// silentServer accepts connections and never answers, like a host whose
// CQL port is wedged: only ConnectTimeout (or the context) ends the wait.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		err := ln.Close()
		<-done
		for _, c := range conns {
			err = errors.Join(err, c.Close())
		}
		if err != nil {
			t.Errorf("close the silent server: %v", err)
		}
	})
	return ln.Addr().String()
}

func TestNewSessionUnreachable(t *testing.T) {
	// A port nothing listens on: refused at once.
	refused := outboxtest.FreeAddr(t)
	silent := silentServer(t)

	tests := []struct {
		name           string
		host           string
		connectTimeout time.Duration
		ctxTimeout     time.Duration // 0: none
		max            time.Duration
	}{
		{"refused", refused, 300 * time.Millisecond, 0, time.Second},
		{"no answer, bounded by ConnectTimeout", silent, 300 * time.Millisecond, 0, 3 * time.Second},
		{"no answer, context deadline first", silent, 10 * time.Second, 200 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.ctxTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxTimeout)
				defer cancel()
			}
			start := time.Now()
			s, err := NewSession(ctx, Config{Hosts: []string{tt.host}, ConnectTimeout: tt.connectTimeout})
			elapsed := time.Since(start)
			if err == nil {
				s.Close()
				t.Fatal("NewSession succeeded")
			}
			t.Logf("after %v: %v", elapsed.Round(time.Millisecond), err)
			if !strings.HasPrefix(err.Error(), "storage: connect to "+tt.host+": ") {
				t.Errorf("error %q does not say what failed", err)
			}
			if tt.ctxTimeout > 0 && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v, want context.DeadlineExceeded", err)
			}
			if elapsed > tt.max {
				t.Errorf("took %v, want at most %v", elapsed, tt.max)
			}
		})
	}
}
