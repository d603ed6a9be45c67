package messaging

import (
	"errors"
	"fmt"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/scylla-outbox/scylla-outbox/outbox"
)

// maxTopicLen is Kafka's topic name length limit.
const maxTopicLen = 249

// ErrInvalidTopic is wrapped when a topic name is not legal in Kafka.
var ErrInvalidTopic = errors.New("messaging: invalid topic name")

// ErrTopicTemplate is wrapped when [Config.TopicTemplate] fails to render
// for a record.
var ErrTopicTemplate = errors.New("messaging: topic template failed")

// ValidateTopicName reports whether name is a legal Kafka topic name: 1 to
// 249 characters from [a-zA-Z0-9._-], and not "." or "..". The error wraps
// [ErrInvalidTopic].
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrInvalidTopic)
	case name == "." || name == "..":
		return fmt.Errorf("%w: %q is reserved", ErrInvalidTopic, name)
	case len(name) > maxTopicLen:
		return fmt.Errorf("%w: %d characters, the limit is %d", ErrInvalidTopic, len(name), maxTopicLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q has %q at byte %d; only [a-zA-Z0-9._-] are allowed", ErrInvalidTopic, name, c, i)
		}
	}
	return nil
}

// topicFuncs are the functions available to [Config.TopicTemplate]; aggregate
// types are often CamelCase while topic conventions are lower-case.
var topicFuncs = template.FuncMap{
	"lower":   strings.ToLower,
	"upper":   strings.ToUpper,
	"replace": strings.ReplaceAll,
}

// topicRouter renders the topic of a record. It is parsed once and is safe
// for concurrent use (text/template execution is).
type topicRouter struct {
	// constant is the topic when the template has no actions; rendering
	// is then skipped entirely.
	constant string
	tmpl     *template.Template
}

func newTopicRouter(text string) (*topicRouter, error) {
	tmpl, err := template.New("topic").Funcs(topicFuncs).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, err
	}
	if isConstant(tmpl) {
		if err := ValidateTopicName(text); err != nil {
			return nil, err
		}
		return &topicRouter{constant: text}, nil
	}
	// Render against a representative record now so that a reference to
	// a field that does not exist fails at startup, not on every record.
	probe := outbox.Record{}
	probe.AggregateType, probe.EventType = "Probe", "Probe"
	if err := tmpl.Execute(new(strings.Builder), probe); err != nil {
		return nil, err
	}
	return &topicRouter{tmpl: tmpl}, nil
}

func isConstant(t *template.Template) bool {
	if t.Tree == nil || t.Root == nil {
		return true
	}
	for _, n := range t.Root.Nodes {
		if n.Type() != parse.NodeText {
			return false
		}
	}
	return true
}

// topic renders and validates the topic of rec. Errors wrap
// [ErrTopicTemplate] or [ErrInvalidTopic]; both are Permanent.
func (r *topicRouter) topic(rec *outbox.Record) (string, error) {
	if r.tmpl == nil {
		return r.constant, nil
	}
	var b strings.Builder
	if err := r.tmpl.Execute(&b, rec); err != nil {
		return "", fmt.Errorf("%w: %w", ErrTopicTemplate, err)
	}
	name := b.String()
	if err := ValidateTopicName(name); err != nil {
		return "", err
	}
	return name, nil
}
