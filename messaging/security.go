package messaging

import (
	"errors"
	"fmt"

	"github.com/IBM/sarama"

	"github.com/scylla-outbox/scylla-outbox/internal/connsec"
)

// applySecurity turns on TLS and SASL in sc as c asks; it reads the TLS
// files. c is validated and defaulted.
func (c Config) applySecurity(sc *sarama.Config) error {
	if c.TLS != nil {
		tc, err := c.TLS.build()
		if err != nil {
			return err
		}
		sc.Net.TLS.Enable = true
		sc.Net.TLS.Config = tc
	}
	if c.SASL != nil {
		sc.Net.SASL.Enable = true
		sc.Net.SASL.Mechanism = sarama.SASLMechanism(c.SASL.Mechanism)
		sc.Net.SASL.User = c.SASL.User
		sc.Net.SASL.Password = c.SASL.Password
		sc.Net.SASL.Handshake = true
		if c.SASL.Mechanism != SASLMechanismPlain {
			sc.Net.SASL.SCRAMClientGeneratorFunc = scramGenerator(c.SASL.Mechanism)
		}
	}
	return nil
}

// explain returns a *connsec.Error wrapping err when the brokers refused
// the connection for a reason one of c's fields controls (the TLS
// handshake, the SASL login), naming that field; other errors come back
// as they are. sarama keeps its causes in the error chain, and wraps a
// broker's refusal of a login as ErrSASLAuthenticationFailed with the
// broker's message.
func (c Config) explain(err error) error {
	if c.TLS != nil {
		if e := connsec.TLS(err, "the broker", connsec.Client{CAFile: c.TLS.CAFile, CertFile: c.TLS.CertFile}); e != nil {
			return e
		}
	}
	if c.SASL == nil {
		return err
	}
	switch {
	case errors.Is(err, sarama.ErrSASLAuthenticationFailed):
		return &connsec.Error{Field: "SASL.Password", Err: err,
			Reason: fmt.Sprintf("the broker refused the credentials of user %q (%s)", c.SASL.User, c.SASL.Mechanism)}
	case errors.Is(err, sarama.ErrUnsupportedSASLMechanism):
		return &connsec.Error{Field: "SASL.Mechanism", Err: err,
			Reason: fmt.Sprintf("the broker does not offer SASL mechanism %s", c.SASL.Mechanism)}
	}
	return err
}
