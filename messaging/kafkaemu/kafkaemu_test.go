package kafkaemu_test

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/scylla-outbox/scylla-outbox/messaging/kafkaemu"
)

func start(t *testing.T, opts kafkaemu.Options) *kafkaemu.Broker {
	t.Helper()
	b, err := kafkaemu.Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// closeOrFail closes c and fails the test if that fails; deferred, it
// checks the close of something the test opened.
func closeOrFail(t *testing.T, what string, c io.Closer) {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Errorf("close %s: %v", what, err)
	}
}

func saramaConfig() *sarama.Config {
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_8_0_0
	sc.Producer.Return.Successes = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Retry.Max = 0
	sc.Net.DialTimeout = time.Second
	sc.Net.ReadTimeout = time.Second
	sc.Metadata.Retry.Max = 0
	return sc
}

func producer(t *testing.T, b *kafkaemu.Broker) sarama.SyncProducer {
	t.Helper()
	p, err := sarama.NewSyncProducer(b.Brokers(), saramaConfig())
	if err != nil {
		t.Fatalf("NewSyncProducer: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func send(p sarama.SyncProducer, topic, value string) error {
	_, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(value)})
	return err
}

// TestTopicsAndPartitions: seeded topics get the configured partition
// count, topics created later the default, and missing topics are not
// auto-created.
func TestTopicsAndPartitions(t *testing.T) {
	t.Parallel()
	b := start(t, kafkaemu.Options{Topics: []string{"a", "b"}, Partitions: 5})
	if err := b.CreateTopic("c", 0, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateTopic("c", 0, nil); !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Errorf("second CreateTopic = %v, want TopicAlreadyExists", err)
	}
	if err := b.CreateTopic("d", 2, nil); err != nil {
		t.Fatal(err)
	}
	client, err := sarama.NewClient(b.Brokers(), saramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer closeOrFail(t, "client", client)
	for topic, want := range map[string]int{"a": 5, "b": 5, "c": 5, "d": 2} {
		ps, err := client.Partitions(topic)
		if err != nil || len(ps) != want {
			t.Errorf("topic %s: %d partitions (%v), want %d", topic, len(ps), err, want)
		}
	}
	if err := send(producer(t, b), "missing", "x"); !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		t.Errorf("produce to a missing topic = %v, want UnknownTopicOrPartition", err)
	}
}

// TestMaxMessageBytes: the broker itself rejects an oversized batch with
// MESSAGE_TOO_LARGE, as seen by sarama; a per-topic max.message.bytes
// overrides the broker setting.
func TestMaxMessageBytes(t *testing.T) {
	t.Parallel()
	b := start(t, kafkaemu.Options{Topics: []string{"t"}, MaxMessageBytes: 1000})
	if err := b.CreateTopic("roomy", 1, map[string]string{"max.message.bytes": "100000"}); err != nil {
		t.Fatal(err)
	}
	p := producer(t, b)
	if err := send(p, "t", "small"); err != nil {
		t.Fatalf("small record: %v", err)
	}
	big := strings.Repeat("x", 2000)
	if err := send(p, "t", big); !errors.Is(err, sarama.ErrMessageSizeTooLarge) {
		t.Errorf("2000-byte record = %v, want ErrMessageSizeTooLarge from the broker", err)
	}
	if err := send(p, "roomy", big); err != nil {
		t.Errorf("2000-byte record to a topic allowing 100000 = %v", err)
	}
}

// TestRestartKeepsAddressAndData: Stop refuses connections, Start brings
// the broker back on the same address with its topics and records.
func TestRestartKeepsAddressAndData(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := start(t, kafkaemu.Options{Topics: []string{"t"}, Partitions: 1, DataDir: dir})
	if err := b.CreateTopic("later", 1, nil); err != nil {
		t.Fatal(err)
	}
	p := producer(t, b)
	for _, v := range []string{"one", "two"} {
		if err := send(p, "t", v); err != nil {
			t.Fatal(err)
		}
	}
	if err := send(p, "later", "three"); err != nil {
		t.Fatal(err)
	}
	addr := b.Addr()

	b.Stop()
	if b.Running() || b.Cluster() != nil {
		t.Fatal("still running after Stop")
	}
	if err := b.CreateTopic("x", 1, nil); !errors.Is(err, kafkaemu.ErrStopped) {
		t.Errorf("CreateTopic while stopped = %v, want ErrStopped", err)
	}
	if _, err := sarama.NewClient([]string{addr}, saramaConfig()); err == nil {
		t.Fatal("connected to a stopped broker")
	}

	if err := b.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b.Addr() != addr {
		t.Fatalf("restarted on %s, want %s", b.Addr(), addr)
	}
	for topic, want := range map[string][]string{"t": {"one", "two"}, "later": {"three"}} {
		if got := readAll(t, b, topic, len(want)); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("topic %s after restart: %v, want %v", topic, got, want)
		}
	}

	// A new Broker on the same directory sees the same data.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); !errors.Is(err, kafkaemu.ErrStopped) {
		t.Errorf("Start after Close = %v, want ErrStopped", err)
	}
	b2 := start(t, kafkaemu.Options{DataDir: dir})
	if got := readAll(t, b2, "t", 2); strings.Join(got, ",") != "one,two" {
		t.Errorf("new broker on the same DataDir: %v", got)
	}
}

// TestTempDataDir: without DataDir, data still survives a restart and
// Close removes the temporary directory.
func TestTempDataDir(t *testing.T) {
	t.Parallel()
	b := start(t, kafkaemu.Options{Topics: []string{"t"}, Partitions: 1})
	if err := send(producer(t, b), "t", "kept"); err != nil {
		t.Fatal(err)
	}
	if err := b.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, b, "t", 1); len(got) != 1 || got[0] != "kept" {
		t.Errorf("after restart: %v", got)
	}
	dir := b.DataDir()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := sarama.NewClient(b.Brokers(), saramaConfig()); err == nil {
		t.Error("connected after Close")
	}
	if entries, err := readDir(dir); err == nil {
		t.Errorf("temporary data dir %s still exists after Close: %v", dir, entries)
	}
}

func TestStartOptions(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string]kafkaemu.Options{
		"bad addr":           {Addr: "nope"},
		"bad port":           {Addr: "127.0.0.1:70000"},
		"negative partition": {Partitions: -1},
		"negative max bytes": {MaxMessageBytes: -1},
	} {
		if b, err := kafkaemu.Start(context.Background(), opts); err == nil {
			_ = b.Close()
			t.Errorf("%s: Start succeeded", name)
		}
	}
}

// readAll reads want values of partition 0 of topic from the oldest offset.
func readAll(t *testing.T, b *kafkaemu.Broker, topic string, want int) []string {
	t.Helper()
	c, err := sarama.NewConsumer(b.Brokers(), saramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer closeOrFail(t, "consumer", c)
	pc, err := c.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer closeOrFail(t, "partition consumer", pc)
	var got []string
	timeout := time.After(10 * time.Second)
	for len(got) < want {
		select {
		case m := <-pc.Messages():
			got = append(got, string(m.Value))
		case <-timeout:
			t.Fatalf("read %v of %d from %s", got, want, topic)
		}
	}
	return got
}

func readDir(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, err
}
