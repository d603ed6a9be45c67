package messaging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/IBM/sarama"
	"github.com/eapache/go-resiliency/breaker"
)

func TestClassify(t *testing.T) {
	dialRefused := &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	readReset := &net.OpError{Op: "read", Net: "tcp", Err: &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}}
	producerErr := func(err error) error {
		return &sarama.ProducerError{Msg: &sarama.ProducerMessage{Topic: "t"}, Err: err}
	}
	tests := []struct {
		name string
		err  error
		want ErrorKind
	}{
		// Transient: the broker or the connection is unable right now.
		{"io.EOF", io.EOF, Transient},
		{"io.ErrUnexpectedEOF", io.ErrUnexpectedEOF, Transient},
		{"ECONNREFUSED in net.OpError", dialRefused, Transient},
		{"ECONNRESET in net.OpError", readReset, Transient},
		{"bare ECONNRESET", syscall.ECONNRESET, Transient},
		{"EPIPE", syscall.EPIPE, Transient},
		{"ETIMEDOUT", syscall.ETIMEDOUT, Transient},
		{"net timeout", &net.DNSError{Err: "timeout", IsTimeout: true}, Transient},
		{"context deadline", context.DeadlineExceeded, Transient},
		{"context canceled", context.Canceled, Transient},
		{"ErrOutOfBrokers", sarama.ErrOutOfBrokers, Transient},
		{"ErrOutOfBrokers wrapping dial error", fmt.Errorf("%w: %w", sarama.ErrOutOfBrokers, dialRefused), Transient},
		{"ErrNotConnected", sarama.ErrNotConnected, Transient},
		{"ErrClosedClient", sarama.ErrClosedClient, Transient},
		{"ErrShuttingDown", sarama.ErrShuttingDown, Transient},
		{"ErrBrokerNotFound", sarama.ErrBrokerNotFound, Transient},
		{"ErrIncompleteResponse", sarama.ErrIncompleteResponse, Transient},
		{"ErrProducerRetryBufferOverflow", sarama.ErrProducerRetryBufferOverflow, Transient},
		{"sarama breaker open", breaker.ErrBreakerOpen, Transient},
		{"NotLeaderForPartition", sarama.ErrNotLeaderForPartition, Transient},
		{"LeaderNotAvailable", sarama.ErrLeaderNotAvailable, Transient},
		{"RequestTimedOut", sarama.ErrRequestTimedOut, Transient},
		{"NotEnoughReplicas", sarama.ErrNotEnoughReplicas, Transient},
		{"NotEnoughReplicasAfterAppend", sarama.ErrNotEnoughReplicasAfterAppend, Transient},
		{"NetworkException", sarama.ErrNetworkException, Transient},
		{"BrokerNotAvailable", sarama.ErrBrokerNotAvailable, Transient},
		{"KafkaStorageError", sarama.ErrKafkaStorageError, Transient},
		{"OutOfOrderSequenceNumber", sarama.ErrOutOfOrderSequenceNumber, Transient},
		{"UnknownProducerID", sarama.ErrUnknownProducerID, Transient},
		{"SASLAuthenticationFailed (cluster-wide)", sarama.ErrSASLAuthenticationFailed, Transient},
		{"ClusterAuthorizationFailed (cluster-wide)", sarama.ErrClusterAuthorizationFailed, Transient},
		{"UnsupportedVersion (cluster-wide)", sarama.ErrUnsupportedVersion, Transient},
		{"unknown server error", sarama.ErrUnknown, Transient},
		{"publisher closed", ErrClosed, Transient},
		{"unknown error", errors.New("something new"), Transient},
		{"nil", nil, Transient},

		// Permanent: the record or its topic is at fault.
		{"broker MessageSizeTooLarge", sarama.ErrMessageSizeTooLarge, Permanent},
		{"broker MessageSizeTooLarge in ProducerError", producerErr(sarama.ErrMessageSizeTooLarge), Permanent},
		{"MessageSetSizeTooLarge", sarama.ErrMessageSetSizeTooLarge, Permanent},
		{"client-side size check (ConfigurationError)", sarama.ConfigurationError("Attempt to produce message larger than configured Producer.MaxMessageBytes: 2 > 1"), Permanent},
		{"ErrRecordTooLarge", fmt.Errorf("%w: 5000 bytes", ErrRecordTooLarge), Permanent},
		{"InvalidTopic", sarama.ErrInvalidTopic, Permanent},
		{"UnknownTopicOrPartition", sarama.ErrUnknownTopicOrPartition, Permanent},
		{"UnknownTopicOrPartition in ProducerError", producerErr(sarama.ErrUnknownTopicOrPartition), Permanent},
		{"TopicAuthorizationFailed", sarama.ErrTopicAuthorizationFailed, Permanent},
		{"PolicyViolation", sarama.ErrPolicyViolation, Permanent},
		{"InvalidRecord", sarama.ErrInvalidRecord, Permanent},
		{"InvalidTimestamp", sarama.ErrInvalidTimestamp, Permanent},
		{"CorruptMessage after retries", sarama.ErrInvalidMessage, Permanent},
		{"PacketEncodingError", sarama.PacketEncodingError{Info: "header too long"}, Permanent},
		{"ErrInvalidTopic", fmt.Errorf("%w: empty", ErrInvalidTopic), Permanent},
		{"ErrTopicTemplate", fmt.Errorf("%w: boom", ErrTopicTemplate), Permanent},
		{"ErrInvalidRecord", fmt.Errorf("%w: nil id", ErrInvalidRecord), Permanent},
		{"ConfigError", &ConfigError{Field: "Brokers", Reason: "empty"}, Permanent},

		// A PublishError carries its own kind, overriding its cause.
		{"PublishError Permanent over transient cause", &PublishError{Kind: Permanent, Err: breaker.ErrBreakerOpen}, Permanent},
		{"PublishError Transient over permanent cause", &PublishError{Kind: Transient, Err: sarama.ErrUnknownTopicOrPartition}, Transient},
		{"wrapped PublishError", fmt.Errorf("relay: %w", &PublishError{Kind: Permanent, Err: io.EOF}), Permanent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Classify(tc.err); got != tc.want {
				t.Errorf("Classify(%v) = %s, want %s", tc.err, got, tc.want)
			}
		})
	}
}

// TestBrokerUnavailableList pins the errors logged as an outage rather than
// as an unclassified error.
func TestBrokerUnavailableList(t *testing.T) {
	for _, err := range []error{
		io.EOF, syscall.ECONNRESET, syscall.ECONNREFUSED, sarama.ErrOutOfBrokers, sarama.ErrNotConnected,
		sarama.ErrClosedClient, breaker.ErrBreakerOpen, sarama.ErrNotLeaderForPartition, sarama.ErrLeaderNotAvailable,
		sarama.ErrRequestTimedOut, sarama.ErrNotEnoughReplicas, sarama.ErrNotEnoughReplicasAfterAppend,
		sarama.ErrNetworkException, &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED},
	} {
		if !isBrokerUnavailable(err) {
			t.Errorf("isBrokerUnavailable(%v) = false", err)
		}
	}
	for _, err := range []error{errors.New("x"), sarama.ErrMessageSizeTooLarge, sarama.ErrUnknownTopicOrPartition} {
		if isBrokerUnavailable(err) {
			t.Errorf("isBrokerUnavailable(%v) = true", err)
		}
	}
}

func TestErrorKindString(t *testing.T) {
	if Transient.String() != "transient" || Permanent.String() != "permanent" || ErrorKind(7).String() != "ErrorKind(7)" {
		t.Errorf("String: %s %s %s", Transient, Permanent, ErrorKind(7))
	}
	var zero PublishError
	if zero.Kind != Transient {
		t.Errorf("zero PublishError.Kind = %s, want transient (never dead-letter by accident)", zero.Kind)
	}
}
