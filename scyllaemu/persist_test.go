package scyllaemu_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gocql/gocql"
	scyllacdc "github.com/scylladb/scylla-cdc-go"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu"
)

// TestDataDirKeepsEverything restarts an emulator on its data directory
// and reads back what the first run wrote: schema (with a UDT, collections,
// an altered table, CDC), rows, TTLs, the CDC log, the generations and the
// host id; and it keeps writing after the restart.
func TestDataDirKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	srv, err := scyllaemu.Start(context.Background(), scyllaemu.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	sx := connect(t, srv.Addr(), "")
	mustExec(t, sx, createKS,
		`CREATE TYPE ks.pt (x int, y int)`,
		`CREATE TABLE ks.t (k int, c int, s text static, l list<int>, m map<text, frozen<pt>>, u pt, gone int, PRIMARY KEY (k, c)) WITH cdc = {'enabled': true, 'postimage': true}`,
		`INSERT INTO ks.t (k, c, l, m, u, gone) VALUES (1, 1, [1, 2], {'a': (1, 2)}, (3, 4), 9)`,
		`UPDATE ks.t SET l = l + [3], u.y = 40, s = 'static' WHERE k = 1 AND c = 1`,
		`ALTER TABLE ks.t DROP gone`,
		`ALTER TABLE ks.t ADD extra text`,
		`INSERT INTO ks.t (k, c, extra) VALUES (1, 2, 'e') USING TTL 3600`,
		`CREATE TABLE ks.plain (id int PRIMARY KEY, v blob)`,
		`CREATE INDEX ON ks.plain (v)`,
		`INSERT INTO ks.plain (id, v) VALUES (1, 0x)`,
		`TRUNCATE ks.plain`,
		`INSERT INTO ks.plain (id, v) VALUES (2, 0x00)`,
		`CREATE KEYSPACE tks WITH replication = {'class': 'NetworkTopologyStrategy', 'replication_factor': 1} AND tablets = {'enabled': true}`,
		`CREATE TABLE tks.ev (w int, seq int, v text, PRIMARY KEY (w, seq)) WITH cdc = {'enabled': true}`,
		`ALTER TABLE tks.ev WITH tablets = {'min_tablet_count': 4}`,
	)
	streamsBefore := tabletStreams(t, sx.Session)
	if applied, err := sx.Session.Query(`INSERT INTO ks.plain (id, v) VALUES (3, 0x03) IF NOT EXISTS`).MapScanCAS(map[string]any{}); err != nil || !applied {
		t.Fatalf("LWT: %v %v", applied, err)
	}
	at, err := srv.NewGeneration(0)
	if err != nil {
		t.Fatal(err)
	}
	var hostBefore gocql.UUID
	if err := sx.Session.Query(`SELECT host_id FROM system.local WHERE key = 'local'`).Scan(&hostBefore); err != nil {
		t.Fatal(err)
	}
	logBefore := readCDCLog(t, sx.Session, "ks.t_scylla_cdc_log", "c", "l", "u", "extra")
	sx.Close()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	srv, err = scyllaemu.Start(context.Background(), scyllaemu.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, srv)
	sx = connect(t, srv.Addr(), "")
	var (
		l     []int
		u     map[string]any
		s     string
		extra string
		ttl   int
	)
	if err := sx.Session.Query(`SELECT l, u, s FROM ks.t WHERE k = 1 AND c = 1`).Scan(&l, &u, &s); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(l, []int{1, 2, 3}) || u["x"] != 3 || u["y"] != 40 || s != "static" {
		t.Fatalf("restored row: l=%v u=%v s=%q", l, u, s)
	}
	if err := sx.Session.Query(`SELECT extra, ttl(extra) FROM ks.t WHERE k = 1 AND c = 2`).Scan(&extra, &ttl); err != nil || extra != "e" || ttl <= 0 || ttl > 3600 {
		t.Fatalf("restored TTL'd cell: %q ttl %d %v", extra, ttl, err)
	}
	if err := sx.Session.Query(`SELECT gone FROM ks.t`).Exec(); errCode(err) != 0x2200 {
		t.Fatalf("a dropped column is back: %v", err)
	}
	var ids []int
	iter := sx.Session.Query(`SELECT id FROM ks.plain`).Iter()
	for id := 0; iter.Scan(&id); {
		ids = append(ids, id)
	}
	if err := iter.Close(); err != nil || len(ids) != 2 {
		t.Fatalf("after TRUNCATE and two inserts: %v %v", ids, err)
	}
	var byIndex int
	if err := sx.Session.Query(`SELECT id FROM ks.plain WHERE v = 0x03`).Scan(&byIndex); err != nil || byIndex != 3 {
		t.Fatalf("index after restart: %d %v", byIndex, err)
	}
	if logAfter := readCDCLog(t, sx.Session, "ks.t_scylla_cdc_log", "c", "l", "u", "extra"); !reflect.DeepEqual(logAfter, logBefore) {
		t.Fatalf("CDC log changed across the restart:\n%v\n%v", logBefore, logAfter)
	}
	if streamsAfter := tabletStreams(t, sx.Session); !reflect.DeepEqual(streamsAfter, streamsBefore) || len(streamsAfter) != 14 {
		t.Fatalf("tablet streams changed across the restart:\n%v\n%v", streamsBefore, streamsAfter)
	}
	gens := srv.Engine().Generations()
	if len(gens) != 2 || !gens[1].Time.Equal(at) {
		t.Fatalf("generations after restart: %v, want the second at %v", gens, at)
	}
	var hostAfter gocql.UUID
	if err := sx.Session.Query(`SELECT host_id FROM system.local WHERE key = 'local'`).Scan(&hostAfter); err != nil || hostAfter != hostBefore {
		t.Fatalf("host id %v after restart, was %v (%v)", hostAfter, hostBefore, err)
	}
	mustExec(t, sx, `UPDATE ks.t SET l = l + [4] WHERE k = 1 AND c = 1`, `CREATE TABLE ks.later (id int PRIMARY KEY)`)
	if err := sx.Session.Query(`SELECT l FROM ks.t WHERE k = 1 AND c = 1`).Scan(&l); err != nil || !reflect.DeepEqual(l, []int{1, 2, 3, 4}) {
		t.Fatalf("write after restart: %v %v", l, err)
	}
	if _, err := scyllaemu.Start(context.Background(), scyllaemu.Options{DataDir: dir}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("a second server on the same directory: %v", err)
	}
}

// childEnv names the data directory of TestEmulatorChild.
const childEnv = "SCYLLAEMU_TEST_CHILD_DATADIR"

// TestEmulatorChild is the child process of TestCrashRecovery: an emulator
// on a data directory, printing its address, until killed.
func TestEmulatorChild(t *testing.T) {
	dir := os.Getenv(childEnv)
	if dir == "" {
		t.Skip("only runs as TestCrashRecovery's child process")
	}
	srv, err := scyllaemu.Start(context.Background(), scyllaemu.Options{DataDir: dir, Vnodes: 4})
	if err != nil {
		fmt.Println("start failed:", err)
		os.Exit(1)
	}
	fmt.Println("addr", srv.Addr())
	select {}
}

type child struct {
	cmd  *exec.Cmd
	addr string
}

func startChild(t *testing.T, dir string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestEmulatorChild$", "-test.v=false")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The test has usually killed and reaped the child already; both
		// calls then fail with "already finished", as they should.
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "addr ")
	if err != nil || !ok {
		t.Fatalf("child did not start: %q %v", line, err)
	}
	return &child{cmd: cmd, addr: addr}
}

// kill9 kills the child with SIGKILL and reaps it.
func (c *child) kill9(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := c.cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("reaping the killed child: %v", err)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want SIGKILL", ee)
	}
}

// TestCrashRecovery kills the emulator with SIGKILL while writers and a
// scylla-cdc-go reader (saving its progress in the emulator) are running,
// restarts it on the same data directory, and checks that every write
// acknowledged before the kill is readable and in the CDC log, and that a
// reader resuming from the saved progress delivers every acknowledged
// change that the first reader had not, redelivering at most the last
// change per stream (whose progress mark the kill may have cut).
func TestCrashRecovery(t *testing.T) {
	dir := t.TempDir()
	first := startChild(t, dir)
	sx := connect(t, first.addr, "")
	mustExec(t, sx, createKS, `CREATE TABLE ks.ev (w int, seq int, v text, PRIMARY KEY (w, seq)) WITH cdc = {'enabled': true}`)

	before := &changeLog{notify: make(chan struct{}, 1)}
	stopReader := runReader(t, sx.Session, before)

	const writers, minAcked = 4, 400
	var mu sync.Mutex
	acked := map[logKey]bool{}
	var count atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; ; seq++ {
				err := sx.Session.Query(`INSERT INTO ks.ev (w, seq, v) VALUES (?, ?, 'x')`, w, seq).Exec()
				if err != nil {
					return // the emulator is gone
				}
				mu.Lock()
				acked[logKey{w, seq}] = true
				mu.Unlock()
				count.Add(1)
			}
		}()
	}
	deadline := time.Now().Add(60 * time.Second)
	for count.Load() < minAcked || len(before.all()) < minAcked/4 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d writes acknowledged, %d changes read", count.Load(), len(before.all()))
		}
		time.Sleep(10 * time.Millisecond)
	}
	first.kill9(t) // mid-load: writers and the reader are busy
	wg.Wait()
	_ = stopReader() // the emulator was killed under it: its error says only that
	sx.Close()

	second := startChild(t, dir)
	sx = connect(t, second.addr, "")
	present := map[logKey]bool{}
	iter := sx.Session.Query(`SELECT w, seq FROM ks.ev`).Iter()
	for var_w, var_s := 0, 0; iter.Scan(&var_w, &var_s); {
		present[logKey{var_w, var_s}] = true
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	logged := map[logKey]bool{}
	iter = sx.Session.Query(`SELECT w, seq FROM ks.ev_scylla_cdc_log`).Iter()
	for var_w, var_s := 0, 0; iter.Scan(&var_w, &var_s); {
		logged[logKey{var_w, var_s}] = true
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	for k := range acked {
		if !present[k] {
			t.Errorf("acknowledged write %v lost", k)
		}
		if !logged[k] {
			t.Errorf("acknowledged write %v missing from the CDC log", k)
		}
	}
	t.Logf("%d writes acknowledged before SIGKILL, %d rows after restart, %d changes read before", len(acked), len(present), len(before.all()))

	after := &changeLog{notify: make(chan struct{}, 1)}
	stopReader = runReader(t, sx.Session, after)
	seenBefore := map[logKey]bool{}
	for _, c := range before.all() {
		seenBefore[c.key] = true
	}
	missing := 0
	for k := range acked {
		if !seenBefore[k] {
			missing++
		}
	}
	after.waitFor(t, missing, 60*time.Second)
	if err := stopReader(); err != nil {
		t.Fatalf("resumed reader: %v", err)
	}
	seenAfter := map[logKey]bool{}
	redelivered := map[string]int{}
	for _, c := range after.all() {
		seenAfter[c.key] = true
		if seenBefore[c.key] {
			redelivered[c.stream]++
		}
	}
	for k := range acked {
		if !seenBefore[k] && !seenAfter[k] {
			t.Errorf("acknowledged change %v never delivered", k)
		}
	}
	for stream, n := range redelivered {
		if n > 1 {
			t.Errorf("stream %x: %d changes redelivered after the restart, want at most 1 (progress is saved after each)", stream, n)
		}
	}
}

// runReader runs scylla-cdc-go on ks.ev with progress in ks.cdc_progress and
// returns a function that stops it and reports its error.
func runReader(t *testing.T, s *gocql.Session, consumer *changeLog) func() error {
	t.Helper()
	tbpm, err := scyllacdc.NewTableBackedProgressManager(s, "ks.cdc_progress", "crash-test")
	if err != nil {
		t.Fatal(err)
	}
	cfg := scyllacdc.ReaderConfig{Session: s, TableNames: []string{"ks.ev"}, ChangeConsumerFactory: consumer, ProgressManager: tbpm}
	cfg.Advanced.ChangeAgeLimit = 10 * time.Minute
	return startReader(t, cfg)
}
