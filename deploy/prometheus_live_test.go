package deploy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/scylla-outbox/scylla-outbox/cli"
	"github.com/scylla-outbox/scylla-outbox/internal/outboxtest"
)

type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A real Prometheus (Debian's package, installed by
// scripts/install-test-tools.sh) scrapes the dev stack with the project's
// scrape settings and evaluates the project's alert rules.
func TestPrometheusScrapesTheDevStackAndEvaluatesRules(t *testing.T) {
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus is not installed (run scripts/install-test-tools.sh as root to install Debian's package)")
	}
	out := &lockedBuf{}
	env := cli.Env{Stdout: out, Stderr: &lockedBuf{}, Getenv: func(string) string { return "" }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(ctx, env, []string{"dev", "--cql-listen", "127.0.0.1:0", "--kafka-listen", "127.0.0.1:0",
			"--http.listen", "127.0.0.1:0", "--log.level", "error"})
	}()
	defer func() {
		cancel()
		<-done
	}()
	httpAddr := ""
	re := regexp.MustCompile(`http:\s+http://(\S+)`)
	for deadline := time.Now().Add(30 * time.Second); httpAddr == ""; {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			httpAddr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("dev did not start:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := 0; i < 5; i++ {
		body := fmt.Sprintf(`{"customer_id":%q,"items":[{"product_id":"sku","quantity":1,"unit_price_minor":100,"currency":"EUR"}]}`, uuid.NewString())
		resp, err := http.Post("http://"+httpAddr+"/orders", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if err := resp.Body.Close(); err != nil {
			t.Fatal(err)
		}
	}

	// The project's config, pointed at the dev stack and made fast.
	dir := t.TempDir()
	cfg, err := os.ReadFile("prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	promAddr := outboxtest.FreeAddr(t)
	c := strings.ReplaceAll(string(cfg), `"relay:8080"`, fmt.Sprintf("%q", httpAddr))
	c = strings.ReplaceAll(c, `"localhost:9090"`, fmt.Sprintf("%q", promAddr))
	c = strings.ReplaceAll(c, "evaluation_interval: 15s", "evaluation_interval: 1s")
	c = strings.ReplaceAll(c, "scrape_interval: 5s", "scrape_interval: 1s")
	c = strings.ReplaceAll(c, "scrape_timeout: 4s", "scrape_timeout: 1s")
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(c), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts.yml"), rules, 0o600); err != nil {
		t.Fatal(err)
	}
	prom := exec.Command(promBin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+promAddr)
	var promLog lockedBuf
	prom.Stdout, prom.Stderr = &promLog, &promLog
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := prom.Process.Kill(); err != nil {
			t.Errorf("kill prometheus: %v", err)
			return
		}
		// Its exit on the kill is the point; only a failure to wait counts.
		var exit *exec.ExitError
		if err := prom.Wait(); err != nil && !errors.As(err, &exit) {
			t.Errorf("wait for prometheus: %v", err)
		}
	}()

	api := func(path string, v any) error {
		resp, err := http.Get("http://" + promAddr + path)
		if err != nil {
			return err
		}
		err = json.NewDecoder(resp.Body).Decode(v)
		return errors.Join(err, resp.Body.Close())
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var q struct {
			Data struct {
				Result []struct {
					Value []any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		var r struct {
			Data struct {
				Groups []struct {
					Rules []struct {
						Name           string `json:"name"`
						Health         string `json:"health"`
						LastEvaluation string `json:"lastEvaluation"`
						State          string `json:"state"`
					} `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		scraped := api(`/api/v1/query?query=outbox_events_published_total`, &q) == nil && len(q.Data.Result) > 0
		evaluated, total, firing := 0, 0, []string{}
		if api("/api/v1/rules", &r) == nil {
			for _, g := range r.Data.Groups {
				for _, rule := range g.Rules {
					total++
					if rule.Health == "ok" && !strings.HasPrefix(rule.LastEvaluation, "0001") {
						evaluated++
					}
					if rule.State == "firing" {
						firing = append(firing, rule.Name)
					}
				}
			}
		}
		if scraped && total > 0 && evaluated == total {
			if len(firing) > 0 {
				t.Fatalf("alerts firing on a healthy dev stack: %v", firing)
			}
			t.Logf("prometheus scraped the dev stack; %d rules evaluated, none firing", total)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("scraped=%v, %d of %d rules evaluated\nprometheus log:\n%s", scraped, evaluated, total, promLog.String())
		}
		time.Sleep(250 * time.Millisecond)
	}
}
