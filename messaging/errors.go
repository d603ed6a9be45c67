package messaging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/IBM/sarama"
	"github.com/eapache/go-resiliency/breaker"
	"github.com/google/uuid"
)

// ErrorKind tells the caller what to do with a record whose publish failed.
type ErrorKind int

const (
	// Transient: the broker, the network or the cluster is unable right
	// now; the same record will succeed later. Retry it and let the
	// circuit breaker stop traffic while the condition lasts. It is the
	// zero value so that an unset Kind never sends a record to the
	// dead-letter queue.
	Transient ErrorKind = iota
	// Permanent: the record itself or its destination topic is at fault;
	// retrying cannot help. Park the record in the dead-letter queue (it
	// can be replayed once the cause is fixed) and continue.
	Permanent
)

// String returns "transient" or "permanent".
func (k ErrorKind) String() string {
	switch k {
	case Transient:
		return "transient"
	case Permanent:
		return "permanent"
	default:
		return fmt.Sprintf("ErrorKind(%d)", int(k))
	}
}

// Errors raised by the publisher itself.
var (
	// ErrClosed is the cause when a record could not be published because
	// the [Publisher] was closed first. It is Transient: the record is
	// fine and must be published again by the next publisher.
	ErrClosed = errors.New("messaging: publisher closed")
	// ErrNotConnected is the cause when a record could not be published
	// because the [Publisher] has not reached the brokers yet (it keeps
	// trying in the background). It is Transient and the record was not
	// sent; the error also wraps the last connection failure.
	ErrNotConnected = errors.New("messaging: not connected to the brokers")
	// ErrInvalidRecord is wrapped when a record lacks what the wire format
	// needs (event id, aggregate id, type names, a payload). Permanent.
	ErrInvalidRecord = errors.New("messaging: invalid record")
	// ErrRecordTooLarge is wrapped when a record exceeds
	// [Config.MaxMessageBytes] or the broker rejected it alone with
	// MESSAGE_TOO_LARGE. Permanent.
	ErrRecordTooLarge = errors.New("messaging: record too large")
)

// PublishError is the error a publish callback receives. Use errors.As to
// reach it and errors.Is on it to reach the cause (Err), for example
// [sarama.ErrMessageSizeTooLarge].
type PublishError struct {
	// Kind says whether to retry (Transient) or dead-letter (Permanent).
	Kind ErrorKind
	// Err is the cause.
	Err error
	// Topic is the destination, empty when the topic could not be chosen.
	Topic string
	// EventID identifies the record that failed.
	EventID uuid.UUID
}

func (e *PublishError) Error() string {
	topic := e.Topic
	if topic == "" {
		topic = "?"
	}
	return fmt.Sprintf("messaging: publish event %s to %s failed (%s): %v", e.EventID, topic, e.Kind, e.Err)
}

// Unwrap returns the cause.
func (e *PublishError) Unwrap() error { return e.Err }

// Classify returns the [ErrorKind] of a publish error. It looks through
// wrapping (errors.Is / errors.As), so it classifies a [*PublishError] (its
// Kind), a [sarama.ProducerError], a sarama.KError or a bare network error
// alike. The rule: an error that concerns one record or one topic is
// Permanent, so it neither blocks other records nor trips the processor's
// breaker; an error that says the broker, the connection or the whole
// client is unusable is Transient, so the breaker holds every record and
// nothing is dead-lettered during an outage. Anything not listed is
// Transient: an unknown error must not send records to the dead-letter queue.
//
// Permanent:
//   - sarama.ErrMessageSizeTooLarge (broker MESSAGE_TOO_LARGE),
//     sarama.ErrMessageSetSizeTooLarge, [ErrRecordTooLarge] (larger than
//     Config.MaxMessageBytes, checked before sending) and
//     sarama.ConfigurationError (sarama's own client-side size check);
//   - sarama.ErrInvalidTopic, [ErrInvalidTopic], [ErrTopicTemplate];
//   - sarama.ErrUnknownTopicOrPartition: sarama already refreshed metadata
//     and retried, and asks brokers to auto-create topics, so a topic still
//     unknown is missing on a broker that does not auto-create — a
//     configuration problem for that topic only. As Transient it would
//     trip the breaker and stop every other topic too;
//   - sarama.ErrTopicAuthorizationFailed, ErrPolicyViolation,
//     ErrUnsupportedForMessageFormat, ErrUnsupportedCompressionType
//     (properties of the topic);
//   - sarama.ErrInvalidMessage (CORRUPT_MESSAGE after sarama's retries),
//     sarama.ErrInvalidRecord, sarama.ErrInvalidTimestamp,
//     sarama.PacketEncodingError, [ErrInvalidRecord] (the record cannot be
//     encoded or is refused as such);
//   - [ErrInvalidConfig].
//
// Transient:
//   - io.EOF, io.ErrUnexpectedEOF, ECONNRESET, ECONNREFUSED, ECONNABORTED,
//     EPIPE, EHOSTUNREACH, ENETUNREACH, ETIMEDOUT, any net.Error
//     (timeouts, dial failures), context.Canceled/DeadlineExceeded;
//   - sarama.ErrOutOfBrokers, ErrNotConnected, ErrClosedClient,
//     ErrShuttingDown, ErrBrokerNotFound, ErrIncompleteResponse,
//     ErrProducerRetryBufferOverflow, [ErrNotConnected] and [ErrClosed];
//   - breaker.ErrBreakerOpen: sarama's own per-topic/partition breaker
//     (3 failures, 10 s, not configurable) left open after an outage. It
//     also opens on a missing topic; the [Publisher] then reports the kind
//     of the failures that opened it, which Classify alone cannot see;
//   - KErrors NotLeaderForPartition, LeaderNotAvailable, RequestTimedOut,
//     NotEnoughReplicas, NotEnoughReplicasAfterAppend, NetworkException,
//     BrokerNotAvailable, ReplicaNotAvailable, KafkaStorageError, throttling,
//     idempotence state (OutOfOrderSequenceNumber, UnknownProducerID,
//     InvalidProducerEpoch: sarama bumps the epoch, a retry succeeds), and
//     cluster-wide authentication/authorization or protocol errors (SASL
//     failures, ClusterAuthorizationFailed, UnsupportedVersion,
//     InvalidRequiredAcks): every record would fail alike, so stopping
//     behind the breaker until an operator fixes it loses nothing, while
//     Permanent would dead-letter the whole stream.
//
// Classify(nil) is Transient; check for nil first.
func Classify(err error) ErrorKind {
	if err == nil {
		return Transient
	}
	var pe *PublishError
	if errors.As(err, &pe) {
		return pe.Kind
	}
	var kerr sarama.KError
	if errors.As(err, &kerr) {
		return classifyKError(kerr)
	}
	var cfgErr sarama.ConfigurationError
	var encErr sarama.PacketEncodingError
	var ourCfgErr *ConfigError
	switch {
	case errors.Is(err, ErrRecordTooLarge),
		errors.Is(err, ErrInvalidRecord),
		errors.Is(err, ErrInvalidTopic),
		errors.Is(err, ErrTopicTemplate),
		errors.Is(err, ErrInvalidConfig),
		errors.As(err, &cfgErr),
		errors.As(err, &encErr),
		errors.As(err, &ourCfgErr):
		return Permanent
	}
	// Everything else — connection errors, sarama's client errors, its
	// breaker, ErrClosed, unknown errors — is Transient.
	return Transient
}

// classifyKError classifies a broker error code; see [Classify].
func classifyKError(k sarama.KError) ErrorKind {
	switch k {
	case sarama.ErrMessageSizeTooLarge,
		sarama.ErrMessageSetSizeTooLarge,
		sarama.ErrInvalidTopic,
		sarama.ErrUnknownTopicOrPartition,
		sarama.ErrTopicAuthorizationFailed,
		sarama.ErrPolicyViolation,
		sarama.ErrUnsupportedForMessageFormat,
		sarama.ErrUnsupportedCompressionType,
		sarama.ErrInvalidMessage,
		sarama.ErrInvalidRecord,
		sarama.ErrInvalidTimestamp:
		return Permanent
	default:
		return Transient
	}
}

// errUnreported is joined to [ErrClosed] for a record sarama never reported
// before the publisher closed (it always should): it may have been sent.
var errUnreported = errors.New("messaging: the producer never reported the record's outcome")

// IsUnavailable reports whether a publish failed because the broker or the
// partition could not be reached or could not take the record right now:
// the connection or the cluster is at fault, not the record. A caller
// should neither count such a failure against the record nor give up on
// it; wait (behind a circuit breaker) and publish it again. They are:
//   - [ErrNotConnected] (the publisher has not reached the brokers yet)
//     and [ErrClosed];
//   - io.EOF, io.ErrUnexpectedEOF, ECONNRESET, ECONNREFUSED, ECONNABORTED,
//     EPIPE, EHOSTUNREACH, ENETUNREACH, ETIMEDOUT, any net.Error,
//     context.DeadlineExceeded;
//   - sarama.ErrOutOfBrokers, ErrNotConnected, ErrClosedClient,
//     ErrShuttingDown, ErrBrokerNotFound, ErrProducerRetryBufferOverflow,
//     and its breaker (breaker.ErrBreakerOpen);
//   - KErrors NotLeaderForPartition, LeaderNotAvailable, RequestTimedOut,
//     NotEnoughReplicas, NotEnoughReplicasAfterAppend, NetworkException,
//     BrokerNotAvailable, ReplicaNotAvailable, KafkaStorageError.
//
// A [*PublishError] of Kind Permanent is never unavailable, whatever its
// cause: the publisher reports sarama's breaker as Permanent when a
// missing topic opened it. Other Transient errors (unknown ones,
// OutOfOrderSequenceNumber, authorization failures) are not listed: they
// may be the record's fault after all, so a caller counts them.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var pe *PublishError
	if errors.As(err, &pe) && pe.Kind == Permanent {
		return false
	}
	return errors.Is(err, ErrNotConnected) ||
		errors.Is(err, ErrClosed) ||
		errors.Is(err, sarama.ErrProducerRetryBufferOverflow) ||
		isBrokerUnavailable(err)
}

// IsAmbiguous reports whether a record whose publish failed with err may
// nevertheless have been appended to the topic: the request was sent and
// its answer lost or inconclusive. Publishing such a record again may
// write a second copy (same event id), which consumers deduplicate; the
// [Publisher] has already retried it within [Config.DeliveryTimeout] in a
// way the broker deduplicates, so a copy is only left behind when the
// failure outlasted that window.
//
// True: timeouts and resets while reading the answer (io.EOF,
// io.ErrUnexpectedEOF, ECONNRESET, a read timeout), a context that ended
// while waiting ([Publisher.PublishSync]), KErrors RequestTimedOut and
// NotEnoughReplicasAfterAppend (the leader appended, the replicas did not
// confirm in time), NetworkException and UnknownServerError,
// sarama.ErrShuttingDown and ErrIncompleteResponse, and every error not
// listed below.
//
// False, the record certainly was not appended: the connection could not be
// opened (a refused or failed dial, ECONNREFUSED, EHOSTUNREACH,
// ENETUNREACH) or the request could not be written (a write error, EPIPE);
// no broker or leader could be found (sarama.ErrOutOfBrokers,
// ErrNotConnected, ErrBrokerNotFound, ErrClosedClient, its breaker,
// ErrProducerRetryBufferOverflow); the publisher did not send it
// ([ErrNotConnected], [ErrClosed], [ErrInvalidRecord], [ErrRecordTooLarge],
// [ErrInvalidTopic], [ErrTopicTemplate], sarama's client-side checks); or
// the broker answered with any other error code, rejecting it
// (MessageTooLarge, NotLeaderForPartition, UnknownTopicOrPartition,
// NotEnoughReplicas, OutOfOrderSequenceNumber, ...).
//
// IsAmbiguous judges the error sarama finally reported, which is that of
// the batch's last attempt. sarama keeps no history, so an earlier attempt
// that failed ambiguously is invisible when a later one failed
// unambiguously (say a lost answer, then a refused connection while the
// broker restarts and its metadata still answered in between): a rare
// sequence in which IsAmbiguous reports false although a copy may exist.
// IsAmbiguous(nil) is false.
func IsAmbiguous(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, errUnreported) {
		return true
	}
	var cfgErr sarama.ConfigurationError
	var encErr sarama.PacketEncodingError
	switch {
	case errors.Is(err, ErrNotConnected),
		errors.Is(err, ErrClosed),
		errors.Is(err, ErrInvalidRecord),
		errors.Is(err, ErrRecordTooLarge),
		errors.Is(err, ErrInvalidTopic),
		errors.Is(err, ErrTopicTemplate),
		errors.As(err, &cfgErr),
		errors.As(err, &encErr),
		errors.Is(err, sarama.ErrOutOfBrokers),
		errors.Is(err, sarama.ErrNotConnected),
		errors.Is(err, sarama.ErrBrokerNotFound),
		errors.Is(err, sarama.ErrClosedClient),
		errors.Is(err, sarama.ErrProducerRetryBufferOverflow),
		errors.Is(err, breaker.ErrBreakerOpen),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.EPIPE),
		isNetOp(err, "dial"),
		isNetOp(err, "write"):
		return false
	}
	var kerr sarama.KError
	if errors.As(err, &kerr) {
		switch kerr {
		case sarama.ErrRequestTimedOut,
			sarama.ErrNotEnoughReplicasAfterAppend,
			sarama.ErrNetworkException,
			sarama.ErrUnknown:
			return true
		}
		return false
	}
	return true
}

// isNetOp reports whether err is a *net.OpError of operation op ("dial",
// "read", "write").
func isNetOp(err error, op string) bool {
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == op
}

// isBrokerUnavailable reports the errors that mean "the broker cannot be
// reached or is not serving": the known core of the Transient class.
// Classify treats unknown errors as Transient too; this list lets the
// publisher log an outage quietly and an unknown error loudly, and lets the
// tests pin the known ones.
func isBrokerUnavailable(err error) bool {
	var netErr net.Error
	switch {
	case errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.ETIMEDOUT),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, sarama.ErrOutOfBrokers),
		errors.Is(err, sarama.ErrNotConnected),
		errors.Is(err, sarama.ErrClosedClient),
		errors.Is(err, sarama.ErrShuttingDown),
		errors.Is(err, sarama.ErrBrokerNotFound),
		errors.Is(err, breaker.ErrBreakerOpen),
		errors.As(err, &netErr):
		return true
	}
	var kerr sarama.KError
	if errors.As(err, &kerr) {
		switch kerr {
		case sarama.ErrNotLeaderForPartition,
			sarama.ErrLeaderNotAvailable,
			sarama.ErrRequestTimedOut,
			sarama.ErrNotEnoughReplicas,
			sarama.ErrNotEnoughReplicasAfterAppend,
			sarama.ErrNetworkException,
			sarama.ErrBrokerNotAvailable,
			sarama.ErrReplicaNotAvailable,
			sarama.ErrKafkaStorageError:
			return true
		}
	}
	return false
}

// isTopicLevel reports errors that concern a topic as a whole rather than
// one record. They, and Transient errors, are what sarama's per-topic
// breaker counts, so the publisher remembers them to classify a later
// breaker.ErrBreakerOpen on the same topic.
func isTopicLevel(err error) bool {
	var kerr sarama.KError
	if errors.As(err, &kerr) {
		switch kerr {
		case sarama.ErrUnknownTopicOrPartition, sarama.ErrInvalidTopic, sarama.ErrTopicAuthorizationFailed:
			return true
		}
	}
	return false
}
