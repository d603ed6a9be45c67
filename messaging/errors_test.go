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

// TestIsUnavailable pins the failures a caller must not count against a
// record: the broker or the connection is at fault.
func TestIsUnavailable(t *testing.T) {
	dialRefused := &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	notConnected := fmt.Errorf("%w (3 attempts, the last failed: %w)", ErrNotConnected, fmt.Errorf("%w: %w", sarama.ErrOutOfBrokers, dialRefused))
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"not connected yet", notConnected, true},
		{"not connected in PublishError", &PublishError{Kind: Transient, Err: notConnected}, true},
		{"publisher closed", ErrClosed, true},
		{"io.EOF", io.EOF, true},
		{"ECONNRESET", syscall.ECONNRESET, true},
		{"refused dial", dialRefused, true},
		{"ErrOutOfBrokers", sarama.ErrOutOfBrokers, true},
		{"sarama ErrNotConnected", sarama.ErrNotConnected, true},
		{"ErrClosedClient", sarama.ErrClosedClient, true},
		{"retry buffer overflow", sarama.ErrProducerRetryBufferOverflow, true},
		{"sarama breaker open", breaker.ErrBreakerOpen, true},
		{"NotLeaderForPartition", sarama.ErrNotLeaderForPartition, true},
		{"LeaderNotAvailable", sarama.ErrLeaderNotAvailable, true},
		{"RequestTimedOut", sarama.ErrRequestTimedOut, true},
		{"NotEnoughReplicas", sarama.ErrNotEnoughReplicas, true},
		{"NotEnoughReplicasAfterAppend", sarama.ErrNotEnoughReplicasAfterAppend, true},
		{"NetworkException", sarama.ErrNetworkException, true},
		{"in ProducerError", &sarama.ProducerError{Msg: &sarama.ProducerMessage{}, Err: sarama.ErrNotLeaderForPartition}, true},

		{"nil", nil, false},
		{"unknown error", errors.New("x"), false},
		{"MessageSizeTooLarge", sarama.ErrMessageSizeTooLarge, false},
		{"UnknownTopicOrPartition", sarama.ErrUnknownTopicOrPartition, false},
		{"OutOfOrderSequenceNumber", sarama.ErrOutOfOrderSequenceNumber, false},
		{"invalid record", fmt.Errorf("%w: nil id", ErrInvalidRecord), false},
		{"breaker opened by a missing topic (Permanent)", &PublishError{Kind: Permanent, Err: breaker.ErrBreakerOpen}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsUnavailable(tc.err); got != tc.want {
				t.Errorf("IsUnavailable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// TestIsAmbiguous pins which failures may have left the record in the topic.
func TestIsAmbiguous(t *testing.T) {
	op := func(op string, err error) error {
		return &net.OpError{Op: op, Net: "tcp", Err: &os.SyscallError{Syscall: op, Err: err}}
	}
	readTimeout := &net.OpError{Op: "read", Net: "tcp", Err: &timeoutError{}}
	writeTimeout := &net.OpError{Op: "write", Net: "tcp", Err: &timeoutError{}}
	dialTimeout := &net.OpError{Op: "dial", Net: "tcp", Err: &timeoutError{}}
	pe := func(kind ErrorKind, err error) error { return &PublishError{Kind: kind, Err: err} }
	tests := []struct {
		name string
		err  error
		want bool
	}{
		// The request was written and its answer lost or inconclusive.
		{"read timeout", readTimeout, true},
		{"connection reset while reading", op("read", syscall.ECONNRESET), true},
		{"bare ECONNRESET", syscall.ECONNRESET, true},
		{"EOF mid-request", io.EOF, true},
		{"unexpected EOF", io.ErrUnexpectedEOF, true},
		{"EOF in PublishError", pe(Transient, io.EOF), true},
		{"RequestTimedOut", sarama.ErrRequestTimedOut, true},
		{"NotEnoughReplicasAfterAppend", sarama.ErrNotEnoughReplicasAfterAppend, true},
		{"NetworkException", sarama.ErrNetworkException, true},
		{"UnknownServerError", sarama.ErrUnknown, true},
		{"sarama shutting down", sarama.ErrShuttingDown, true},
		{"incomplete response", sarama.ErrIncompleteResponse, true},
		{"PublishSync context ended", context.DeadlineExceeded, true},
		{"PublishSync context cancelled", context.Canceled, true},
		{"unreported at close", pe(Transient, fmt.Errorf("%w: %w", ErrClosed, errUnreported)), true},
		{"unknown error", errors.New("something new"), true},

		// Certainly not appended.
		{"nil", nil, false},
		{"refused dial", op("dial", syscall.ECONNREFUSED), false},
		{"dial timeout", dialTimeout, false},
		{"bare ECONNREFUSED", syscall.ECONNREFUSED, false},
		{"host unreachable", op("dial", syscall.EHOSTUNREACH), false},
		{"write failed", op("write", syscall.ECONNRESET), false},
		{"write timeout", writeTimeout, false},
		{"broken pipe", syscall.EPIPE, false},
		{"no broker", fmt.Errorf("%w: %w", sarama.ErrOutOfBrokers, op("dial", syscall.ECONNREFUSED)), false},
		{"sarama not connected", sarama.ErrNotConnected, false},
		{"broker not found", sarama.ErrBrokerNotFound, false},
		{"client closed", sarama.ErrClosedClient, false},
		{"sarama breaker open", breaker.ErrBreakerOpen, false},
		{"retry buffer overflow", sarama.ErrProducerRetryBufferOverflow, false},
		{"publisher closed before sending", pe(Transient, ErrClosed), false},
		{"publisher not connected", pe(Transient, fmt.Errorf("%w (1 attempts, the last failed: %w)", ErrNotConnected, io.EOF)), false},
		{"invalid record", pe(Permanent, fmt.Errorf("%w: nil id", ErrInvalidRecord)), false},
		{"too large for the producer", pe(Permanent, fmt.Errorf("%w: 5000 bytes", ErrRecordTooLarge)), false},
		{"illegal topic", pe(Permanent, fmt.Errorf("%w: empty", ErrInvalidTopic)), false},
		{"sarama client-side size check", sarama.ConfigurationError("too large"), false},
		{"broker MessageTooLarge", sarama.ErrMessageSizeTooLarge, false},
		{"broker NotLeader", sarama.ErrNotLeaderForPartition, false},
		{"broker UnknownTopic", &sarama.ProducerError{Msg: &sarama.ProducerMessage{}, Err: sarama.ErrUnknownTopicOrPartition}, false},
		{"broker NotEnoughReplicas (before append)", sarama.ErrNotEnoughReplicas, false},
		{"broker OutOfOrderSequence", sarama.ErrOutOfOrderSequenceNumber, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsAmbiguous(tc.err); got != tc.want {
				t.Errorf("IsAmbiguous(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// timeoutError is a net.Error timeout, as a deadline produces.
type timeoutError struct{}

func (*timeoutError) Error() string   { return "i/o timeout" }
func (*timeoutError) Timeout() bool   { return true }
func (*timeoutError) Temporary() bool { return true }

func TestErrorKindString(t *testing.T) {
	if Transient.String() != "transient" || Permanent.String() != "permanent" || ErrorKind(7).String() != "ErrorKind(7)" {
		t.Errorf("String: %s %s %s", Transient, Permanent, ErrorKind(7))
	}
	var zero PublishError
	if zero.Kind != Transient {
		t.Errorf("zero PublishError.Kind = %s, want transient (never dead-letter by accident)", zero.Kind)
	}
}
