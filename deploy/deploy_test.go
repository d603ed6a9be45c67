// Package deploy_test validates the deployment files that no Docker engine
// is needed to check: the Prometheus configuration and alert rules (with
// promtool, including the rule unit tests), docker-compose.yml (with
// docker-compose and structurally), the Grafana provisioning and dashboard,
// the Dockerfile and .dockerignore, and that every metric name any of them
// queries is one package metrics really exports.
//
// promtool and docker-compose come from Debian's prometheus and
// docker-compose packages (scripts/install-test-tools.sh installs them);
// the tests that need them skip, saying so, where they are missing.
package deploy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.yaml.in/yaml/v3"

	"github.com/scylla-outbox/scylla-outbox/domain"
	"github.com/scylla-outbox/scylla-outbox/messaging"
	"github.com/scylla-outbox/scylla-outbox/metrics"
	"github.com/scylla-outbox/scylla-outbox/schema"
)

// root is the repository root; go test runs in the package directory.
const root = ".."

const installHint = "run scripts/install-test-tools.sh as root to install it"

func path(elem ...string) string { return filepath.Join(append([]string{root}, elem...)...) }

func readFile(t *testing.T, elem ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(path(elem...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tool returns the path of an external tool or skips the test.
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not found on PATH (Debian package %s): %s", name, pkg, installHint)
	}
	return p
}

// run runs a command in dir and returns its combined output, failing the
// test on a non-zero exit.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// ---------------------------------------------------------------------------
// Prometheus

func TestPromtoolCheckConfig(t *testing.T) {
	promtool := tool(t, "promtool", "prometheus")
	out := run(t, path("deploy", "prometheus"), nil, promtool, "check", "config", "prometheus.yml")
	t.Log(out)
}

func TestPromtoolCheckRules(t *testing.T) {
	promtool := tool(t, "promtool", "prometheus")
	out := run(t, path("deploy", "prometheus"), nil, promtool, "check", "rules", "alerts.yml")
	t.Log(out)
}

// TestPromtoolTestRules runs alerts_test.yml: every alert fires on a failure
// and stays silent on healthy, idle and sparse-traffic relays.
func TestPromtoolTestRules(t *testing.T) {
	promtool := tool(t, "promtool", "prometheus")
	out := run(t, path("deploy", "prometheus"), nil, promtool, "test", "rules", "alerts_test.yml")
	t.Log(out)
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Record      string            `yaml:"record"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func loadRules(t *testing.T) []rule {
	t.Helper()
	var f ruleFile
	if err := yaml.Unmarshal(readFile(t, "deploy", "prometheus", "alerts.yml"), &f); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	var rules []rule
	for _, g := range f.Groups {
		rules = append(rules, g.Rules...)
	}
	if len(rules) == 0 {
		t.Fatal("alerts.yml has no rules")
	}
	return rules
}

// recordedNames are the series the recording rules of alerts.yml create.
func recordedNames(t *testing.T) map[string]bool {
	names := map[string]bool{}
	for _, r := range loadRules(t) {
		if r.Record != "" {
			names[r.Record] = true
		}
	}
	return names
}

// The alerts the operations runbook documents.
var wantAlerts = []string{
	"OutboxRelayDown",
	"OutboxDLQGrowing",
	"OutboxLagNearCDCTTL",
	"OutboxLagHigh",
	"OutboxBreakerOpen",
	"OutboxActorRestarts",
	"OutboxEventsNotPublished",
}

func TestAlertRules(t *testing.T) {
	known := queryableNames(t)
	var alerts []string
	for _, r := range loadRules(t) {
		name := r.Alert
		if name == "" {
			name = r.Record
		}
		if r.Alert != "" {
			alerts = append(alerts, r.Alert)
			switch r.Labels["severity"] {
			case "critical", "warning":
			default:
				t.Errorf("%s: severity label %q, want critical or warning", name, r.Labels["severity"])
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("%s: no %s annotation", name, a)
				}
			}
			if !strings.HasSuffix(r.Annotations["runbook_url"], "README.md#operations-runbook") {
				t.Errorf("%s: runbook_url %q does not point at README.md#operations-runbook", name, r.Annotations["runbook_url"])
			}
		}
		used := metricNames(r.Expr)
		if len(used) == 0 && !strings.HasPrefix(strings.TrimSpace(r.Expr), "vector(") {
			t.Errorf("%s: no metric found in %q", name, r.Expr)
		}
		for _, m := range used {
			if !known[m] {
				t.Errorf("%s: %q is not a metric of package metrics (nor up, nor a recorded series)", name, m)
			}
		}
	}
	for _, want := range wantAlerts {
		if !slices.Contains(alerts, want) {
			t.Errorf("alert %s is missing", want)
		}
	}
}

// TestAlertCDCTTLMatchesSchema: the lag-near-TTL alert compares with a
// constant that must be the CDC log TTL the schema applies.
func TestAlertCDCTTLMatchesSchema(t *testing.T) {
	want := fmt.Sprintf("vector(%d)", int64(schema.DefaultCDCLogTTL/time.Second))
	for _, r := range loadRules(t) {
		if r.Record == "outbox:cdc_log_ttl_seconds" {
			if got := strings.TrimSpace(r.Expr); got != want {
				t.Fatalf("outbox:cdc_log_ttl_seconds is %s, but schema.DefaultCDCLogTTL is %v (%s): change them together", got, schema.DefaultCDCLogTTL, want)
			}
			return
		}
	}
	t.Fatal("alerts.yml does not record outbox:cdc_log_ttl_seconds")
}

// TestAlertUnitTestCoverage: alerts_test.yml shows every alert both firing
// and silent.
func TestAlertUnitTestCoverage(t *testing.T) {
	var f struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			AlertRuleTest []struct {
				AlertName string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(readFile(t, "deploy", "prometheus", "alerts_test.yml"), &f); err != nil {
		t.Fatalf("alerts_test.yml: %v", err)
	}
	if !slices.Contains(f.RuleFiles, "alerts.yml") {
		t.Errorf("alerts_test.yml rule_files %v does not include alerts.yml", f.RuleFiles)
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range f.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.AlertName] = true
			} else {
				silent[a.AlertName] = true
			}
		}
	}
	for _, r := range loadRules(t) {
		if r.Alert == "" {
			continue
		}
		if !fires[r.Alert] {
			t.Errorf("alerts_test.yml never expects %s to fire", r.Alert)
		}
		if !silent[r.Alert] {
			t.Errorf("alerts_test.yml never expects %s to stay silent", r.Alert)
		}
	}
}

// TestRunbookSectionExists: the alerts' runbook_url points at the README's
// "Operations runbook" section, which must therefore exist.
func TestRunbookSectionExists(t *testing.T) {
	sc := bufio.NewScanner(strings.NewReader(string(readFile(t, "README.md"))))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") && slug(strings.TrimLeft(line, "# ")) == "operations-runbook" {
			return
		}
	}
	t.Fatal(`README.md has no "Operations runbook" heading, the target of every alert's runbook_url (README.md#operations-runbook)`)
}

// slug is GitHub's heading anchor: lower case, punctuation dropped, spaces
// to hyphens.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestPrometheusScrapeConfig(t *testing.T) {
	var cfg struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName        string `yaml:"job_name"`
			ScrapeInterval string `yaml:"scrape_interval"`
			MetricsPath    string `yaml:"metrics_path"`
			StaticConfigs  []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(readFile(t, "deploy", "prometheus", "prometheus.yml"), &cfg); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.RuleFiles, []string{"alerts.yml"}) {
		t.Errorf("rule_files = %v, want [alerts.yml]", cfg.RuleFiles)
	}
	jobs := map[string][]string{}
	for _, sc := range cfg.ScrapeConfigs {
		for _, s := range sc.StaticConfigs {
			jobs[sc.JobName] = append(jobs[sc.JobName], s.Targets...)
		}
		if sc.JobName == "outbox-relay" {
			if sc.ScrapeInterval != "5s" {
				t.Errorf("outbox-relay scrape_interval = %q, want 5s", sc.ScrapeInterval)
			}
			if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
				t.Errorf("outbox-relay metrics_path = %q", sc.MetricsPath)
			}
		}
	}
	// The job name is what OutboxRelayDown and the dashboard select on;
	// every relay replica of docker-compose.yml is a target.
	var relays []string
	for name, svc := range loadCompose(t).Services {
		if fmt.Sprint(svc["command"]) == "[relay]" {
			relays = append(relays, name+":8080")
		}
	}
	if got := slices.Sorted(slices.Values(jobs["outbox-relay"])); len(relays) < 2 || !slices.Equal(got, slices.Sorted(slices.Values(relays))) {
		t.Errorf("outbox-relay targets = %v, want the compose file's relays %v (two at least: one active, one standby)", got, relays)
	}
	if !slices.Equal(jobs["prometheus"], []string{"localhost:9090"}) {
		t.Errorf("prometheus targets = %v, want [localhost:9090]", jobs["prometheus"])
	}
}

// ---------------------------------------------------------------------------
// Metric names

// capture records every collector registered through it.
type capture struct {
	reg        *prometheus.Registry
	collectors []prometheus.Collector
}

func (c *capture) Register(col prometheus.Collector) error {
	c.collectors = append(c.collectors, col)
	return c.reg.Register(col)
}

func (c *capture) MustRegister(cols ...prometheus.Collector) {
	for _, col := range cols {
		if err := c.Register(col); err != nil {
			panic(err)
		}
	}
}

func (c *capture) Unregister(col prometheus.Collector) bool { return c.reg.Unregister(col) }

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// exportedNames returns the series names package metrics exposes: each
// family's name, and _bucket, _sum and _count for histograms and summaries.
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	c := &capture{reg: prometheus.NewRegistry()}
	m := metrics.New(c)
	// A vector exposes nothing until it has a child: touch every
	// instrument once.
	now := time.Now()
	m.EventProcessed(domain.EventTypeOrderCreated, time.Millisecond)
	m.EventFailed(domain.EventTypeOrderCreated)
	m.EventPublished("cdc", domain.EventTypeOrderCreated, now.Add(-time.Second), now)
	m.DuplicateSkipped()
	m.Republished("ambiguous_failure")
	m.RetryAttempted(domain.EventTypeOrderCreated)
	m.RetrySucceeded(domain.EventTypeOrderCreated)
	m.RetryExhausted(domain.EventTypeOrderCreated)
	m.BreakerTransition(metrics.BreakerClosed, metrics.BreakerOpen)
	m.DLQWritten(domain.EventTypeOrderCreated)
	m.SetDLQSize(1)
	m.SetInFlight(1)
	m.ActorRestarted("relay/cdc")
	m.CommandHandled(metrics.CommandCreate, metrics.ResultOK, time.Millisecond)
	m.LeadershipChanged("outbox-relay", true)

	mfs, err := c.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	families := map[string]bool{}
	for _, mf := range mfs {
		n := mf.GetName()
		families[n] = true
		names[n] = true
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			names[n+"_bucket"], names[n+"_sum"], names[n+"_count"] = true, true, true
			delete(names, n) // a classic histogram has no series of its bare name
		case dto.MetricType_SUMMARY:
			names[n+"_sum"], names[n+"_count"] = true, true
		}
	}
	// Every registered descriptor must have been touched above, or a
	// metric added to package metrics would be reported as unknown here.
	for _, col := range c.collectors {
		ch := make(chan *prometheus.Desc, 16)
		go func() { col.Describe(ch); close(ch) }()
		for d := range ch {
			sm := fqName.FindStringSubmatch(d.String())
			if sm == nil {
				t.Fatalf("cannot read the name of %s", d)
			}
			if !families[sm[1]] {
				t.Fatalf("metric %s is registered by metrics.New but exposes no series in this test: call its update method in exportedNames", sm[1])
			}
		}
	}
	if len(families) < 10 {
		t.Fatalf("only %d metric families gathered: %v", len(families), families)
	}
	return names
}

// queryableNames are the names a rule or panel may query: the exported
// ones, Prometheus' per-target up, and the series alerts.yml records.
func queryableNames(t *testing.T) map[string]bool {
	names := exportedNames(t)
	names["up"] = true
	for n := range recordedNames(t) {
		names[n] = true
	}
	return names
}

var (
	reString   = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	reMatchers = regexp.MustCompile(`\{[^}]*\}`)
	reRange    = regexp.MustCompile(`\[[^\]]*\]`)
	reGrouping = regexp.MustCompile(`(?i)\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	reVariable = regexp.MustCompile(`\$\{?\w+\}?`)
	reNumber   = regexp.MustCompile(`\b\d+(?:\.\d+)?(?:[eE][+-]?\d+|ms|s|m|h|d|w|y)?\b`)
	reIdent    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	keywords   = map[string]bool{
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
		"offset": true, "bool": true, "and": true, "or": true, "unless": true, "atan2": true,
		"inf": true, "nan": true,
	}
)

// metricNames returns the metric names a PromQL expression selects. It is a
// lexical scan, not a parser: label matchers, strings, ranges, grouping
// clauses, numbers and Grafana variables are removed, and of the remaining
// identifiers those followed by "(" (functions, aggregations) and keywords
// are dropped.
func metricNames(expr string) []string {
	s := reString.ReplaceAllString(expr, " ")
	s = reMatchers.ReplaceAllString(s, " ")
	s = reRange.ReplaceAllString(s, " ")
	s = reGrouping.ReplaceAllString(s, " ")
	s = reVariable.ReplaceAllString(s, " ")
	s = reNumber.ReplaceAllString(s, " ")
	seen := map[string]bool{}
	var out []string
	for _, loc := range reIdent.FindAllStringIndex(s, -1) {
		id := s[loc[0]:loc[1]]
		rest := strings.TrimLeft(s[loc[1]:], " \t\n")
		if strings.HasPrefix(rest, "(") || keywords[strings.ToLower(id)] || seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string][]string{
		`histogram_quantile(0.95, sum by (le, command) (rate(orders_command_duration_seconds_bucket{instance=~"$instance"}[$__rate_interval])))`:          {"orders_command_duration_seconds_bucket"},
		"outbox_processing_lag_seconds\n  > on () group_left () (0.5 * outbox:cdc_log_ttl_seconds)\nand on (job, instance) (outbox_events_in_flight > 0)": {"outbox:cdc_log_ttl_seconds", "outbox_events_in_flight", "outbox_processing_lag_seconds"},
		`sum(rate(orders_commands_total{command=~"create|update",result="ok"}[10m])) > 0 unless on () sum(rate(outbox_events_published_total[10m])) > 0`:  {"orders_commands_total", "outbox_events_published_total"},
		`up{job="outbox-relay"} == 0`: {"up"},
		`vector(86400)`:               nil,
		`increase(dlq_messages_total[10m]) > 1e3 or min_over_time(outbox_dlq_size[5m] offset 5m) > 0`: {"dlq_messages_total", "outbox_dlq_size"},
		`sum without (instance) (rate(x_total{a="}"}[1m])) / ignoring(b) y`:                           {"x_total", "y"},
	} {
		if got := metricNames(expr); !slices.Equal(got, want) {
			t.Errorf("metricNames(%q) = %q, want %q", expr, got, want)
		}
	}
	// The check catches a misspelt name.
	known := exportedNames(t)
	if known["outbox_event_published_total"] || !known["outbox_events_published_total"] || !known["outbox_end_to_end_latency_seconds_bucket"] || known["outbox_end_to_end_latency_seconds"] {
		t.Error("exportedNames does not tell real names from misspelt ones")
	}
}

// ---------------------------------------------------------------------------
// Grafana

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ X, Y, W, H int } `json:"gridPos"`
	Targets []struct {
		Datasource *struct {
			Type string `json:"type"`
			UID  string `json:"uid"`
		} `json:"datasource"`
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string `json:"name"`
			Datasource *struct {
				UID string `json:"uid"`
			} `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

func loadDashboards(t *testing.T) map[string]dashboard {
	t.Helper()
	files, err := filepath.Glob(path("deploy", "grafana", "dashboards", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in deploy/grafana/dashboards (%v)", err)
	}
	out := map[string]dashboard{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = d
	}
	return out
}

func TestGrafanaDashboards(t *testing.T) {
	known := queryableNames(t)
	uids := map[string]string{}
	for file, d := range loadDashboards(t) {
		t.Run(file, func(t *testing.T) {
			if d.UID == "" || d.Title == "" {
				t.Errorf("uid %q, title %q: both must be set", d.UID, d.Title)
			}
			if other, dup := uids[d.UID]; dup {
				t.Errorf("uid %q also used by %s", d.UID, other)
			}
			uids[d.UID] = file
			if d.SchemaVersion < 36 || d.SchemaVersion > 41 {
				t.Errorf("schemaVersion %d, want 36..41 (Grafana 9.x-12.x)", d.SchemaVersion)
			}
			for _, v := range d.Templating.List {
				if v.Datasource != nil && v.Datasource.UID != "prometheus" {
					t.Errorf("variable %s: datasource uid %q, want prometheus", v.Name, v.Datasource.UID)
				}
			}
			checkPanels(t, d.Panels, known)
		})
	}
}

func checkPanels(t *testing.T, top []panel, known map[string]bool) {
	ids := map[int]string{}
	var all []panel
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			all = append(all, p)
			walk(p.Panels)
		}
	}
	walk(top)
	used := map[string]bool{}
	for _, p := range all {
		name := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if p.ID <= 0 {
			t.Errorf("%s: id must be positive", name)
		}
		if other, dup := ids[p.ID]; dup {
			t.Errorf("%s: id also used by %q", name, other)
		}
		ids[p.ID] = p.Title
		if p.Title == "" {
			t.Errorf("%s: no title", name)
		}
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
			t.Errorf("%s: gridPos %+v outside the 24-column grid", name, g)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "prometheus" || p.Datasource.Type != "prometheus" {
			t.Errorf("%s: datasource %+v, want prometheus/prometheus", name, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no queries", name)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.Datasource == nil || tg.Datasource.UID != "prometheus" {
				t.Errorf("%s, query %s: datasource %+v, want uid prometheus", name, tg.RefID, tg.Datasource)
			}
			if tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("%s: refId %q empty or repeated", name, tg.RefID)
			}
			refs[tg.RefID] = true
			ms := metricNames(tg.Expr)
			if len(ms) == 0 {
				t.Errorf("%s, query %s: no metric in %q", name, tg.RefID, tg.Expr)
			}
			for _, m := range ms {
				used[m] = true
				if !known[m] {
					t.Errorf("%s, query %s: %q is not a metric of package metrics (nor up, nor a recorded series)", name, tg.RefID, m)
				}
			}
		}
	}
	// Panels laid out on the same grid must not overlap: the top level,
	// and each collapsed row's children among themselves.
	overlap := func(ps []panel) {
		for i := range ps {
			for j := i + 1; j < len(ps); j++ {
				a, b := ps[i].GridPos, ps[j].GridPos
				if a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H {
					t.Errorf("panels %d %q and %d %q overlap: %+v, %+v", ps[i].ID, ps[i].Title, ps[j].ID, ps[j].Title, a, b)
				}
			}
		}
	}
	overlap(top)
	for _, p := range top {
		overlap(p.Panels)
	}
	// Every metric of package metrics is on the dashboard.
	for m := range exportedNames(t) {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")
		if !used[m] && !used[base+"_bucket"] && !used[base+"_sum"] && !used[base+"_count"] && !used[base] {
			t.Errorf("no panel shows %s", m)
		}
	}
}

func TestGrafanaProvisioning(t *testing.T) {
	var ds struct {
		Datasources []struct {
			UID, Type, URL string
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(readFile(t, "deploy", "grafana", "provisioning", "datasources", "prometheus.yml"), &ds); err != nil {
		t.Fatal(err)
	}
	if len(ds.Datasources) != 1 || ds.Datasources[0].UID != "prometheus" || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].URL != "http://prometheus:9090" {
		t.Errorf("datasources = %+v, want one prometheus datasource, uid prometheus, url http://prometheus:9090", ds.Datasources)
	}
	var dp struct {
		Providers []struct {
			Type    string
			Options struct{ Path string }
		} `yaml:"providers"`
	}
	if err := yaml.Unmarshal(readFile(t, "deploy", "grafana", "provisioning", "dashboards", "dashboards.yml"), &dp); err != nil {
		t.Fatal(err)
	}
	if len(dp.Providers) != 1 || dp.Providers[0].Type != "file" || dp.Providers[0].Options.Path != "/var/lib/grafana/dashboards" {
		t.Errorf("providers = %+v, want one file provider at /var/lib/grafana/dashboards", dp.Providers)
	}
	// The compose file mounts the files where the provisioning expects them.
	grafana := loadCompose(t).Services["grafana"]
	mounts := bindMounts(grafana)
	for src, dst := range map[string]string{
		"./deploy/grafana/provisioning": "/etc/grafana/provisioning",
		"./deploy/grafana/dashboards":   "/var/lib/grafana/dashboards",
	} {
		if mounts[src] != dst {
			t.Errorf("grafana mounts %s at %q, want %s", src, mounts[src], dst)
		}
	}
	if home := envOf(grafana)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]; home != "" {
		rel, ok := strings.CutPrefix(home, "/var/lib/grafana/dashboards/")
		if _, err := os.Stat(path("deploy", "grafana", "dashboards", rel)); !ok || err != nil {
			t.Errorf("home dashboard %s is not a provisioned dashboard", home)
		}
	}
}

// ---------------------------------------------------------------------------
// docker-compose.yml

// TestComposeConfig validates docker-compose.yml with the compose
// implementation this machine has. Debian's docker-compose (1.29.2) knows
// the Compose Specification's service_completed_successfully condition and
// rejects unknown keys, so it checks the whole file.
func TestComposeConfig(t *testing.T) {
	dc := tool(t, "docker-compose", "docker-compose")
	// Neither an .env file nor the caller's environment may change the
	// outcome; the variable the file uses is set to its default.
	out := run(t, root, []string{"OUTBOX_PROCESSOR=cdc"}, dc, "-f", "docker-compose.yml", "config", "-q")
	if strings.TrimSpace(out) != "" {
		t.Logf("docker-compose config -q said:\n%s", out)
	}
}

type composeFile struct {
	Services map[string]map[string]any `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	if err := yaml.Unmarshal(readFile(t, "docker-compose.yml"), &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	if len(c.Services) == 0 {
		t.Fatal("docker-compose.yml has no services")
	}
	return c
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func envOf(svc map[string]any) map[string]string {
	env := map[string]string{}
	switch e := svc["environment"].(type) {
	case map[string]any:
		for k, v := range e {
			env[k] = fmt.Sprint(v)
		}
	case []any:
		for _, kv := range e {
			k, v, _ := strings.Cut(str(kv), "=")
			env[k] = v
		}
	}
	return env
}

// bindMounts maps the host paths of a service's bind mounts (short syntax)
// to their container paths.
func bindMounts(svc map[string]any) map[string]string {
	out := map[string]string{}
	vols, _ := svc["volumes"].([]any)
	for _, v := range vols {
		parts := strings.Split(str(v), ":")
		if len(parts) >= 2 && (strings.HasPrefix(parts[0], ".") || strings.HasPrefix(parts[0], "/")) {
			out[parts[0]] = parts[1]
		}
	}
	return out
}

func dependsOn(svc map[string]any) map[string]string {
	out := map[string]string{}
	switch d := svc["depends_on"].(type) {
	case map[string]any:
		for name, v := range d {
			cond := "service_started"
			if m, ok := v.(map[string]any); ok && m["condition"] != nil {
				cond = str(m["condition"])
			}
			out[name] = cond
		}
	case []any:
		for _, name := range d {
			out[str(name)] = "service_started"
		}
	}
	return out
}

func TestComposeStructure(t *testing.T) {
	c := loadCompose(t)
	for _, want := range []string{"scylla", "redpanda", "redpanda-init", "migrate", "relay", "prometheus", "grafana"} {
		if c.Services[want] == nil {
			t.Errorf("service %s is missing", want)
		}
	}
	// Targets of service_completed_successfully are one-shot jobs.
	oneShot := map[string]bool{}
	for _, svc := range c.Services {
		for dep, cond := range dependsOn(svc) {
			if cond == "service_completed_successfully" {
				oneShot[dep] = true
			}
		}
	}
	hostPorts := map[string]string{}
	for name, svc := range c.Services {
		image, build := str(svc["image"]), svc["build"]
		if image == "" && build == nil {
			t.Errorf("%s: neither image nor build", name)
		}
		if build == nil {
			// Pulled images are pinned to a version.
			_, tag, ok := strings.Cut(image[strings.LastIndex(image, "/")+1:], ":")
			if !ok || tag == "" || tag == "latest" || strings.Contains(image, "${") {
				t.Errorf("%s: image %q is not pinned to a version tag", name, image)
			}
		}
		for dep, cond := range dependsOn(svc) {
			target := c.Services[dep]
			switch {
			case target == nil:
				t.Errorf("%s depends on %s, which is not a service", name, dep)
			case cond == "service_healthy" && target["healthcheck"] == nil:
				t.Errorf("%s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
			case !slices.Contains([]string{"service_started", "service_healthy", "service_completed_successfully"}, cond):
				t.Errorf("%s: depends_on %s: unknown condition %q", name, dep, cond)
			}
		}
		restart := str(svc["restart"])
		if oneShot[name] {
			if restart != "no" && restart != "" {
				t.Errorf("%s: a one-shot job (others wait for it to complete) must not restart, has restart %q", name, restart)
			}
		} else {
			hc, _ := svc["healthcheck"].(map[string]any)
			if hc == nil || hc["test"] == nil {
				t.Errorf("%s: a long-running service without a healthcheck", name)
			}
		}
		ports, _ := svc["ports"].([]any)
		for _, p := range ports {
			spec := str(p)
			i := strings.LastIndex(spec, ":")
			if i < 0 {
				t.Errorf("%s: port %q publishes a random host port", name, spec)
				continue
			}
			host := spec[:i]
			if !strings.Contains(host, ":") {
				host = "0.0.0.0:" + host
			}
			h, port, err := net.SplitHostPort(host)
			if err != nil {
				t.Errorf("%s: port %q: %v", name, spec, err)
				continue
			}
			if other, dup := hostPorts[port]; dup {
				t.Errorf("%s: host port %s also published by %s", name, port, other)
			}
			hostPorts[port] = name
			if h != "127.0.0.1" {
				t.Errorf("%s: port %q is published beyond the loopback interface", name, spec)
			}
		}
		vols, _ := svc["volumes"].([]any)
		for _, v := range vols {
			src, _, _ := strings.Cut(str(v), ":")
			switch {
			case strings.HasPrefix(src, "."):
				if _, err := os.Stat(path(src)); err != nil {
					t.Errorf("%s: bind mount source %s: %v", name, src, err)
				}
			case strings.HasPrefix(src, "/"):
				t.Errorf("%s: absolute bind mount %s is machine-specific", name, src)
			default:
				if _, ok := c.Volumes[src]; !ok {
					t.Errorf("%s: named volume %s is not declared under volumes", name, src)
				}
			}
		}
	}

	relay, migrate := c.Services["relay"], c.Services["migrate"]
	if relay == nil || migrate == nil {
		return
	}
	for k, want := range map[string]string{
		"OUTBOX_PROCESSOR":     "${OUTBOX_PROCESSOR:-cdc}",
		"OUTBOX_SCYLLA_HOSTS":  "scylla:9042",
		"OUTBOX_KAFKA_BROKERS": "redpanda:9092",
		"OUTBOX_HTTP_LISTEN":   ":8080",
	} {
		if got := envOf(relay)[k]; got != want {
			t.Errorf("relay: %s=%q, want %q", k, got, want)
		}
	}
	for k, want := range map[string]string{"OUTBOX_SCYLLA_HOSTS": "scylla:9042", "OUTBOX_SCYLLA_REPLICATION_FACTOR": "1"} {
		if got := envOf(migrate)[k]; got != want {
			t.Errorf("migrate: %s=%q, want %q", k, got, want)
		}
	}
	for dep, want := range map[string]string{"migrate": "service_completed_successfully", "redpanda-init": "service_completed_successfully"} {
		if got := dependsOn(relay)[dep]; got != want {
			t.Errorf("relay depends on %s with %q, want %q", dep, got, want)
		}
	}
	if got := dependsOn(migrate)["scylla"]; got != "service_healthy" {
		t.Errorf("migrate depends on scylla with %q, want service_healthy", got)
	}
	if relay["image"] != migrate["image"] || relay["build"] == nil {
		t.Errorf("relay and migrate must run the same image built from the Dockerfile")
	}
	if !strings.Contains(fmt.Sprint(relay["healthcheck"]), "/readyz") {
		t.Errorf("relay healthcheck %v does not probe /readyz", relay["healthcheck"])
	}
	for svc, want := range map[string]string{"relay": "[relay]", "migrate": "[migrate]"} {
		if got := fmt.Sprint(c.Services[svc]["command"]); got != want {
			t.Errorf("%s command %s, want %s", svc, got, want)
		}
	}
	// Prometheus gets the directory holding prometheus.yml and alerts.yml.
	if got := bindMounts(c.Services["prometheus"])["./deploy/prometheus"]; got != "/etc/prometheus" {
		t.Errorf("prometheus mounts ./deploy/prometheus at %q, want /etc/prometheus", got)
	}
	// redpanda-init creates the topic the relay publishes Order events to.
	var topic strings.Builder
	tmpl := template.Must(template.New("topic").Parse(messaging.DefaultTopicTemplate))
	if err := tmpl.Execute(&topic, struct{ AggregateType string }{domain.AggregateTypeOrder}); err != nil {
		t.Fatal(err)
	}
	if init := fmt.Sprint(c.Services["redpanda-init"]["command"]); !strings.Contains(init, "topic create "+topic.String()+" ") {
		t.Errorf("redpanda-init (%s) does not create topic %s", init, topic.String())
	}
}

// TestComposeEnvAreSettings: the binary rejects an OUTBOX_ variable that is
// not a setting, so every one the compose file sets must be in the
// configuration reference.
func TestComposeEnvAreSettings(t *testing.T) {
	ref, err := os.ReadFile(path("config", "docs", "config-reference.md"))
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("config/docs/config-reference.md does not exist")
	}
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]bool{}
	for _, n := range regexp.MustCompile(`OUTBOX_[A-Z0-9_]+`).FindAllString(string(ref), -1) {
		settings[n] = true
	}
	for name, svc := range loadCompose(t).Services {
		for k := range envOf(svc) {
			if strings.HasPrefix(k, "OUTBOX_") && !settings[k] {
				t.Errorf("%s: %s is not a setting in config/docs/config-reference.md", name, k)
			}
		}
	}
}

// ---------------------------------------------------------------------------
// Dockerfile and .dockerignore

func TestDockerfile(t *testing.T) {
	df := string(readFile(t, "Dockerfile"))
	var froms []string
	for _, line := range strings.Split(df, "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && strings.EqualFold(f[0], "FROM") {
			for _, w := range f[1:] {
				if !strings.HasPrefix(w, "--") {
					froms = append(froms, w)
					break
				}
			}
		}
	}
	if len(froms) < 2 {
		t.Fatalf("want a multi-stage build, FROM images: %v", froms)
	}
	// The builder's Go is the one go.mod asks for.
	gomod := string(readFile(t, "go.mod"))
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	if !strings.HasPrefix(froms[0], "golang:"+m[1]) {
		t.Errorf("builder image %s, want golang:%s (go.mod's go %s)", froms[0], m[1], m[1])
	}
	if !regexp.MustCompile(`^alpine:3\.\d+$`).MatchString(froms[len(froms)-1]) {
		t.Errorf("runtime image %s, want a pinned alpine:3.N (busybox wget for the healthcheck)", froms[len(froms)-1])
	}
	for _, want := range []string{
		"CGO_ENABLED=0",
		"go build -trimpath",
		"-o /out/outbox ./cmd/outbox",
		"ca-certificates",
		`ENTRYPOINT ["outbox"]`,
		"EXPOSE 8080",
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	users := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindAllStringSubmatch(df, -1)
	if len(users) == 0 {
		t.Error("the runtime stage runs as root: no USER")
	} else if u := users[len(users)-1][1]; u == "root" || u == "0" || strings.HasPrefix(u, "0:") {
		t.Errorf("USER %s is root", u)
	}
}

// TestDockerBuildInputs checks what `go build ./cmd/outbox` in the image
// reads: that the package exists, is a main package buildable without cgo,
// and that .dockerignore keeps none of its files (Go sources, embedded
// files, go.mod, go.sum) out of the build context.
func TestDockerBuildInputs(t *testing.T) {
	ignore := dockerignore(t)
	for _, f := range []string{"go.mod", "go.sum"} {
		if p := ignore(f); p != "" {
			t.Errorf(".dockerignore pattern %q excludes %s", p, f)
		}
	}
	if _, err := os.Stat(path("cmd", "outbox")); err != nil {
		t.Fatalf("the Dockerfile builds ./cmd/outbox: %v", err)
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not on PATH")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	out := run(t, root, []string{"CGO_ENABLED=0"}, gobin, "list", "-deps",
		"-f", `{{if not .Standard}}{{.Dir}}|{{.Name}}|{{.ImportPath}}|{{join .GoFiles ","}}|{{join .EmbedFiles ","}}{{end}}`,
		"./cmd/outbox")
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 5 {
			continue
		}
		dir, name, importPath := f[0], f[1], f[2]
		if importPath == "github.com/scylla-outbox/scylla-outbox/cmd/outbox" && name != "main" {
			t.Errorf("./cmd/outbox is package %s, not main", name)
		}
		rel, err := filepath.Rel(abs, dir)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue // a dependency from the module cache
		}
		for _, file := range append(strings.Split(f[3], ","), strings.Split(f[4], ",")...) {
			if file == "" {
				continue
			}
			p := filepath.ToSlash(filepath.Join(rel, file))
			checked++
			if pat := ignore(p); pat != "" {
				t.Errorf(".dockerignore pattern %q excludes %s, which the build needs", pat, p)
			}
		}
	}
	if checked == 0 {
		t.Fatalf("go list found no source files of ./cmd/outbox:\n%s", out)
	}
}

// dockerignore returns a function reporting the .dockerignore pattern that
// excludes a context-relative path ("" if none). It implements the subset
// of the syntax the file may use: *, ?, ** and directory prefixes;
// exceptions (!) are rejected so that the check stays honest.
func dockerignore(t *testing.T) func(string) string {
	t.Helper()
	type pat struct {
		text string
		re   *regexp.Regexp
	}
	var pats []pat
	for _, line := range strings.Split(string(readFile(t, ".dockerignore")), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "!") {
			t.Fatalf(".dockerignore exception %q is not supported by this check", line)
		}
		p := strings.Trim(filepath.ToSlash(filepath.Clean(line)), "/")
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(p); i++ {
			switch {
			case strings.HasPrefix(p[i:], "**/"):
				re.WriteString("(?:.*/)?")
				i += 2
			case strings.HasPrefix(p[i:], "**"):
				re.WriteString(".*")
				i++
			case p[i] == '*':
				re.WriteString("[^/]*")
			case p[i] == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(p[i : i+1]))
			}
		}
		// A pattern matching a directory excludes everything under it.
		re.WriteString("(?:/.*)?$")
		pats = append(pats, pat{line, regexp.MustCompile(re.String())})
	}
	return func(p string) string {
		for _, pt := range pats {
			if pt.re.MatchString(p) {
				return pt.text
			}
		}
		return ""
	}
}

func TestDockerignoreMatcher(t *testing.T) {
	ignore := dockerignore(t)
	for p, excluded := range map[string]bool{
		".git/HEAD":                  true,
		"app/x.test":                 true,
		"README.md":                  true,
		"deploy/deploy_test.go":      true,
		"schema/cql/00_keyspace.cql": false,
		"scyllaemu/doc.go":           false,
		"go.sum":                     false,
	} {
		if got := ignore(p) != ""; got != excluded {
			t.Errorf("%s excluded = %v, want %v", p, got, excluded)
		}
	}
}

// ---------------------------------------------------------------------------
// Install script

func TestInstallScriptIsSafe(t *testing.T) {
	s := string(readFile(t, "scripts", "install-test-tools.sh"))
	for _, want := range []string{"DEBIAN_FRONTEND=noninteractive", "policy-rc.d", "apt-get install -y", "prometheus", "docker-compose"} {
		if !strings.Contains(s, want) {
			t.Errorf("install-test-tools.sh lacks %q", want)
		}
	}
	info, err := os.Stat(path("scripts", "install-test-tools.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode()&0o111 == 0 {
		t.Error("install-test-tools.sh is not executable")
	}
	if bash, err := exec.LookPath("bash"); err == nil {
		run(t, root, nil, bash, "-n", "scripts/install-test-tools.sh")
	} else if !errors.Is(err, exec.ErrNotFound) {
		t.Fatal(err)
	}
}

// `make metrics` filters the scrape down to the relay's own metrics; a
// prefix missing from its pattern hides a metric from users (relay_* was).
func TestMakeMetricsShowsEveryMetric(t *testing.T) {
	m := regexp.MustCompile(`(?m)^metrics:\n\t.*grep -E '([^']+)'`).FindSubmatch(readFile(t, "Makefile"))
	if m == nil {
		t.Fatal("no grep -E pattern in the Makefile's metrics target")
	}
	shown := regexp.MustCompile(string(m[1]))
	for name := range exportedNames(t) {
		if !shown.MatchString(name) {
			t.Errorf("make metrics hides %s (pattern %s)", name, m[1])
		}
	}
}
