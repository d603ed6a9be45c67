package scyllaemu

import (
	"crypto/tls"
	"net"
)

// serveTLS makes ln hand out TLS connections configured by cfg, as
// ScyllaDB's native transport does with client_encryption_options
// enabled; nil leaves ln as it is. The handshake runs on a connection's
// first read, so a client that fails it (an untrusted certificate, none
// where cfg.ClientAuth requires one) is dropped like any connection whose
// first read fails.
func serveTLS(ln net.Listener, cfg *tls.Config) net.Listener {
	if cfg == nil {
		return ln
	}
	return tls.NewListener(ln, cfg)
}
