package messaging

import (
	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

// scramClient adapts xdg-go/scram, the SCRAM implementation sarama's own
// example uses (RFC 5802 with SASLprep; it checks the server's final
// signature, so a broker that does not know the password cannot pretend
// it does), to sarama's SCRAMClient.
type scramClient struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (c *scramClient) Begin(user, password, authzID string) error {
	client, err := c.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	c.conv = client.NewConversation()
	return nil
}

func (c *scramClient) Step(challenge string) (string, error) { return c.conv.Step(challenge) }

func (c *scramClient) Done() bool { return c.conv.Done() }

// scramGenerator returns sarama's SCRAMClientGeneratorFunc for mechanism
// (SASLMechanismSCRAMSHA256 or SASLMechanismSCRAMSHA512); sarama calls it
// once per connection, and a conversation is single-use.
func scramGenerator(mechanism string) func() sarama.SCRAMClient {
	hash := scram.SHA256
	if mechanism == SASLMechanismSCRAMSHA512 {
		hash = scram.SHA512
	}
	return func() sarama.SCRAMClient { return &scramClient{hash: hash} }
}
