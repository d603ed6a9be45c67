package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/gocql/gocql"
	"github.com/google/uuid"
)

func connectCQL(t *testing.T, addr string) *gocql.Session {
	t.Helper()
	s, err := gocql.NewCluster(addr).CreateSession()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// `outbox dev --data-dir` keeps the stack's data: an order created before
// a restart is still there after it.
func TestDevDataDirSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	run := func(t *testing.T, do func(httpAddr, cqlAddr, keyspace string)) {
		env, out, errOut := testEnv(nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int, 1)
		go func() {
			done <- Run(ctx, env, []string{"dev", "--data-dir", dir, "--cql-listen", "127.0.0.1:0", "--kafka-listen", "127.0.0.1:0", "--http.listen", "127.0.0.1:0", "--log.level", "warn"})
		}()
		defer func() {
			cancel()
			if code := <-done; code != ExitOK {
				t.Errorf("dev exited %d: %s", code, errOut.String())
			}
		}()
		httpAddr := waitFor(t, out, regexp.MustCompile(`http:\s+http://(\S+)`))
		do(httpAddr, waitFor(t, out, regexp.MustCompile(`cql:\s+(\S+)`)), waitFor(t, out, regexp.MustCompile(`FROM (\w+)\.orders`)))
	}
	var id string
	run(t, func(httpAddr, _, _ string) {
		body := `{"items":[{"product_id":"sku-1","quantity":1,"unit_price_minor":100,"currency":"EUR"}],"customer_id":"` + uuid.NewString() + `"}`
		resp, err := http.Post("http://"+httpAddr+"/orders", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }() // only read from: closing cannot lose anything
		var doc map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("create: %d %v (decoding the body: %v)", resp.StatusCode, doc, err)
		}
		var ok bool
		if id, ok = doc["id"].(string); !ok {
			t.Fatalf("create: no id in %v", doc)
		}
	})
	run(t, func(_, cqlAddr, keyspace string) {
		s := connectCQL(t, cqlAddr)
		var n int
		if err := s.Query(`SELECT COUNT(*) FROM `+keyspace+`.orders WHERE id = ?`, id).Scan(&n); err != nil || n != 1 {
			t.Fatalf("order %s after the restart: %d rows, %v", id, n, err)
		}
	})
}
