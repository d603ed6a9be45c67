package messaging

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
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
	// reads, when the template's output depends on nothing but the
	// record's type names, says which of them: the topics rendered for
	// them are then kept in cached instead of rendering the template for
	// every record. Zero when the template may read anything else.
	reads  topicFields
	cached atomic.Pointer[map[topicKey]string]
	mu     sync.Mutex // serialises additions to cached
}

// topicFields are the record fields a cacheable template reads: fields
// that repeat from record to record, so their topics are few.
type topicFields uint8

const (
	readsAggregateType topicFields = 1 << iota
	readsEventType
	readsContentType
)

// topicKey is what a cacheable template's topic depends on: the fields it
// reads, the others left empty.
type topicKey struct{ aggregateType, eventType, contentType string }

// maxCachedTopics bounds the cache: the type names come from the outbox
// rows, and foreign or corrupt rows must not grow it without limit. Past
// it, topics are rendered for each record.
const maxCachedTopics = 256

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
	r := &topicRouter{tmpl: tmpl}
	if reads, ok := readsOf(tmpl.Root); ok {
		r.reads = reads
		r.cached.Store(&map[topicKey]string{})
	}
	return r, nil
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

// readsOf reports which repeating fields the template tree reads, and
// whether its output depends on nothing else: text, and actions whose
// pipelines hold only those fields, literals and functions whose result
// depends on their arguments alone. Anything else — the whole record (.),
// variables, other fields or methods, control structures — makes it not
// cacheable, which only costs the cache.
func readsOf(n parse.Node) (topicFields, bool) {
	var reads topicFields
	var walk func(parse.Node) bool
	walk = func(n parse.Node) bool {
		switch n := n.(type) {
		case *parse.ListNode:
			for _, c := range n.Nodes {
				if !walk(c) {
					return false
				}
			}
			return true
		case *parse.TextNode, *parse.StringNode, *parse.NumberNode, *parse.BoolNode:
			return true
		case *parse.ActionNode:
			return walk(n.Pipe)
		case *parse.PipeNode:
			if n.IsAssign || len(n.Decl) > 0 {
				return false
			}
			for _, c := range n.Cmds {
				if !walk(c) {
					return false
				}
			}
			return true
		case *parse.CommandNode:
			for _, a := range n.Args {
				if !walk(a) {
					return false
				}
			}
			return true
		case *parse.IdentifierNode:
			// A function: ours and text/template's builtins depend on
			// their arguments alone (call could only call a function
			// value, and no argument allowed here is one).
			return true
		case *parse.FieldNode:
			f, ok := repeatingField(n.Ident)
			reads |= f
			return ok
		}
		return false
	}
	if !walk(n) {
		return 0, false
	}
	return reads, true
}

// repeatingField maps a field reference (.AggregateType, or through the
// embedded envelope, .Envelope.AggregateType) to the cacheable field it
// reads.
func repeatingField(ident []string) (topicFields, bool) {
	if len(ident) == 2 && ident[0] == "Envelope" {
		ident = ident[1:]
	}
	if len(ident) != 1 {
		return 0, false
	}
	switch ident[0] {
	case "AggregateType":
		return readsAggregateType, true
	case "EventType":
		return readsEventType, true
	case "ContentType":
		return readsContentType, true
	}
	return 0, false
}

// Topic returns the topic rec is published to: what the topic template
// renders for it. Its errors are those a publish of rec would fail with
// (Permanent). `outbox dlq replay --dry-run` shows it without publishing.
func (p *Publisher) Topic(rec outbox.Record) (string, error) { return p.router.topic(&rec) }

// topic renders and validates the topic of rec. Errors wrap
// [ErrTopicTemplate] or [ErrInvalidTopic]; both are Permanent.
func (r *topicRouter) topic(rec *outbox.Record) (string, error) {
	if r.tmpl == nil {
		return r.constant, nil
	}
	if r.reads == 0 {
		return r.render(rec)
	}
	var key topicKey
	if r.reads&readsAggregateType != 0 {
		key.aggregateType = rec.AggregateType
	}
	if r.reads&readsEventType != 0 {
		key.eventType = rec.EventType
	}
	if r.reads&readsContentType != 0 {
		key.contentType = rec.ContentType
	}
	if name, ok := (*r.cached.Load())[key]; ok {
		return name, nil
	}
	name, err := r.render(rec)
	if err != nil {
		return "", err
	}
	r.remember(key, name)
	return name, nil
}

// remember adds a rendered topic to the cache, copying it: readers use the
// cached map without a lock. Copies are bounded by maxCachedTopics.
func (r *topicRouter) remember(key topicKey, name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.cached.Load()
	if len(old) >= maxCachedTopics {
		return
	}
	next := make(map[topicKey]string, len(old)+1)
	maps.Copy(next, old)
	next[key] = name
	r.cached.Store(&next)
}

// render executes the template for rec.
func (r *topicRouter) render(rec *outbox.Record) (string, error) {
	var b strings.Builder
	// The template gets a copy: handing it rec would move every caller's
	// record to the heap, including those that never render.
	if err := r.tmpl.Execute(&b, *rec); err != nil {
		return "", fmt.Errorf("%w: %w", ErrTopicTemplate, err)
	}
	name := b.String()
	if err := ValidateTopicName(name); err != nil {
		return "", err
	}
	return name, nil
}
