package messaging

import (
	"testing"

	"github.com/google/uuid"
)

func TestAppendUUID(t *testing.T) {
	tests := []struct {
		name   string
		prefix string
		id     uuid.UUID
	}{
		{"nil", "", uuid.Nil},
		{"max", "", uuid.Max},
		{"random after other text", "key=", uuid.MustParse("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")},
		{"v7", "", uuid.Must(uuid.NewV7())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(appendUUID([]byte(tt.prefix), tt.id))
			if want := tt.prefix + tt.id.String(); got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		})
	}
}
