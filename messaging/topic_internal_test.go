package messaging

import (
	"fmt"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/outbox"
)

// topicRecords vary every field from record to record; the type names
// repeat, as they do in an outbox.
func topicRecords(n int) []outbox.Record {
	aggTypes := []string{"Order", "Invoice", "Shipment"}
	eventTypes := []string{"Created", "Updated"}
	contentTypes := []string{"", domain.ContentTypeJSON}
	out := make([]outbox.Record, n)
	for i := range out {
		out[i] = outbox.Record{Envelope: domain.Envelope{
			EventID: uuid.New(), EventType: eventTypes[i%len(eventTypes)], AggregateType: aggTypes[i%len(aggTypes)],
			AggregateID: uuid.New(), Sequence: int64(i + 1), OccurredAt: time.Unix(int64(1700000000+i), 0).UTC(),
			ContentType: contentTypes[i/6%len(contentTypes)], TraceParent: fmt.Sprintf("t%d", i), Payload: []byte(fmt.Sprint(i)),
		}, CommittedAt: time.Unix(int64(1800000000+i), 0)}
		if i%5 == 4 {
			out[i].Malformed = &outbox.Malformed{Reason: "r"}
		}
	}
	return out
}

// wantTopic renders the template the plain way, for every record anew.
func wantTopic(t *testing.T, text string, rec outbox.Record) (string, error) {
	t.Helper()
	tmpl := template.Must(template.New("topic").Funcs(topicFuncs).Option("missingkey=error").Parse(text))
	var b strings.Builder
	if err := tmpl.Execute(&b, rec); err != nil {
		return "", err
	}
	return b.String(), ValidateTopicName(b.String())
}

// A template's topics are cached only when they depend on nothing but the
// type names, and a cached or uncached router gives every record the topic
// rendering the template for it gives.
func TestTopicRouterCachesOnlyWhatRepeats(t *testing.T) {
	tests := []struct {
		template string
		cached   bool
	}{
		{DefaultTopicTemplate, true},
		{"events.{{.AggregateType | lower}}", true},
		{`{{.EventType | printf "%s-x"}}.{{.AggregateType | upper | replace "O" "0"}}`, true},
		{"{{.Envelope.AggregateType}}.{{.ContentType | len}}", true},
		{"orders.{{.AggregateType}}.{{.Sequence}}", false},
		{"orders.{{.EventID}}", false},
		{"orders.{{.AggregateID}}", false},
		{"orders.{{.TraceParent}}", false},
		{"orders.{{len .Payload}}", false},
		{"orders.{{.Envelope.Sequence}}", false},
		{"orders.{{.OrderKey | len}}", false},
		{`orders.{{printf "%d" .Sequence}}`, false},
		{"orders.{{if .Malformed}}bad{{else}}{{.AggregateType}}{{end}}", false},
		{"orders.{{$.AggregateType}}", false},
		{"orders.{{with .AggregateType}}{{.}}{{end}}", false},
		{`orders.{{len (printf "%v" .)}}`, false},
	}
	recs := topicRecords(60)
	for _, tt := range tests {
		t.Run(tt.template, func(t *testing.T) {
			r, err := newTopicRouter(tt.template)
			if err != nil {
				t.Fatal(err)
			}
			if cached := r.reads != 0; cached != tt.cached {
				t.Fatalf("cached = %v, want %v", cached, tt.cached)
			}
			// Twice: the second round reads what the first cached.
			for round := range 2 {
				for i := range recs {
					want, wantErr := wantTopic(t, tt.template, recs[i])
					got, err := r.topic(&recs[i])
					if (err != nil) != (wantErr != nil) || err == nil && got != want {
						t.Fatalf("round %d, record %d: topic %q (%v), want %q (%v)", round, i, got, err, want, wantErr)
					}
				}
			}
		})
	}
}

// The cache stops growing at maxCachedTopics; later type names are
// rendered for each record, correctly.
func TestTopicCacheIsBounded(t *testing.T) {
	r, err := newTopicRouter(DefaultTopicTemplate)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		for i := range maxCachedTopics + 10 {
			rec := outbox.Record{Envelope: domain.Envelope{AggregateType: fmt.Sprintf("Type%d", i)}}
			got, err := r.topic(&rec)
			if want := "outbox.event." + rec.AggregateType; err != nil || got != want {
				t.Fatalf("round %d: topic %q (%v), want %q", round, got, err, want)
			}
		}
	}
	if n := len(*r.cached.Load()); n != maxCachedTopics {
		t.Fatalf("%d topics cached, want %d", n, maxCachedTopics)
	}
}
