package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// usersEnv holds users as the --user flag spells them, one per line, so
// that passwords stay off the command line (where other users of the
// machine can read them).
const usersEnv = "SCYLLAEMU_USERS"

// security are the flags of TLS and password authentication.
type security struct {
	certFile, keyFile, clientCAFile string
	users                           userFlag
}

// addSecurityFlags registers the flags on fs.
func addSecurityFlags(fs *flag.FlagSet) *security {
	s := &security{}
	fs.StringVar(&s.certFile, "tls-cert", "", "serve TLS only, with this PEM certificate (set with --tls-key)")
	fs.StringVar(&s.keyFile, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&s.clientCAFile, "tls-client-ca", "", "require client certificates signed by a CA in this PEM bundle (needs --tls-cert)")
	fs.Var(&s.users, "user", "require password authentication and accept this `name:password` (repeatable; or one per line in $"+usersEnv+")")
	return s
}

// options turns the flags (and the users in the environment, read through
// getenv) into the server's TLS configuration and users; nil and nil
// leave both off.
func (s *security) options(getenv func(string) string) (*tls.Config, map[string]string, error) {
	if s.users.bad != nil {
		return nil, nil, s.users.bad
	}
	users := map[string]string{}
	for _, u := range s.users.list {
		users[u.name] = u.password
	}
	for i, line := range strings.Split(getenv(usersEnv), "\n") {
		if line = strings.TrimRight(line, "\r"); line == "" {
			continue
		}
		name, password, err := parseUser(line)
		if err != nil {
			// The line is not echoed: it may hold a password.
			return nil, nil, fmt.Errorf("$%s line %d: %w", usersEnv, i+1, err)
		}
		users[name] = password
	}
	if len(users) == 0 {
		users = nil
	}
	if s.certFile == "" && s.keyFile == "" {
		if s.clientCAFile != "" {
			return nil, nil, errors.New("--tls-client-ca needs --tls-cert and --tls-key")
		}
		return nil, users, nil
	}
	if s.certFile == "" || s.keyFile == "" {
		return nil, nil, errors.New("--tls-cert and --tls-key go together")
	}
	cert, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if s.clientCAFile != "" {
		pem, err := os.ReadFile(s.clientCAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("--tls-client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("--tls-client-ca %s: no PEM certificates", s.clientCAFile)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, users, nil
}

type user struct{ name, password string }

// userFlag collects --user flags. A bad one is kept to be reported by
// options rather than returned by Set, because the flag package would
// quote the value, password and all, in its message.
type userFlag struct {
	list []user
	bad  error
}

// String never shows the passwords (flag prints defaults through it).
func (u *userFlag) String() string {
	if u == nil {
		return ""
	}
	names := make([]string, len(u.list))
	for i, x := range u.list {
		names[i] = x.name + ":*****"
	}
	return strings.Join(names, ",")
}

func (u *userFlag) Set(v string) error {
	name, password, err := parseUser(v)
	switch {
	case err != nil && u.bad == nil:
		u.bad = fmt.Errorf("--user: %w", err)
	case err == nil:
		u.list = append(u.list, user{name, password})
	}
	return nil
}

// parseUser splits name:password at the first colon; the password may
// contain colons. Errors never quote the text.
func parseUser(v string) (name, password string, err error) {
	name, password, ok := strings.Cut(v, ":")
	switch {
	case !ok:
		return "", "", errors.New("want name:password")
	case name == "":
		return "", "", errors.New("empty user name (want name:password)")
	case password == "":
		return "", "", errors.New("empty password (want name:password)")
	}
	return name, password, nil
}
