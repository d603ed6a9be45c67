package main

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gocql/gocql"
)

// The tests run the command as a child process (this test binary, re-executed
// into main) so that real signals reach it.
const childEnv = "SCYLLAEMU_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// child is a running command with its stdout lines.
type child struct {
	cmd   *exec.Cmd
	lines chan string
}

func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	t.Cleanup(func() {
		if cmd.ProcessState != nil {
			return
		}
		if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Errorf("kill scyllaemu: %v", err)
		}
		// Killed, it exits on the signal; only a failure to wait counts.
		var exit *exec.ExitError
		if err := cmd.Wait(); err != nil && !errors.As(err, &exit) {
			t.Errorf("wait for scyllaemu: %v", err)
		}
	})
	return c
}

// expect returns the text after prefix on the next stdout line.
func (c *child) expect(t *testing.T, prefix string) string {
	t.Helper()
	select {
	case line, ok := <-c.lines:
		if !ok || !strings.HasPrefix(line, prefix) {
			t.Fatalf("stdout line %q (open %v), want prefix %q", line, ok, prefix)
		}
		return strings.TrimPrefix(line, prefix)
	case <-time.After(30 * time.Second):
		t.Fatalf("no stdout line %q", prefix)
	}
	return ""
}

func TestNewGenerationOnSignalOrTimer(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		signal bool
	}{
		{"SIGUSR1", nil, true},
		{"--generation-every", []string{"--generation-every", "50ms"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--listen", "127.0.0.1:0", "--vnodes", "4", "--generation-delay", "0s"}, tc.args...)
			c := startChild(t, args...)
			addr, _, _ := strings.Cut(c.expect(t, "scyllaemu listening on "), " ")
			var printed []time.Time
			for i := 0; i < 2; i++ {
				if tc.signal {
					if err := c.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
						t.Fatal(err)
					}
				}
				at, err := time.Parse(time.RFC3339Nano, c.expect(t, "scyllaemu new CDC generation at "))
				if err != nil {
					t.Fatal(err)
				}
				printed = append(printed, at)
			}

			cluster := gocql.NewCluster(addr)
			cluster.Timeout = 10 * time.Second
			s, err := cluster.CreateSession()
			if err != nil {
				t.Fatal(err)
			}
			var times []time.Time
			iter := s.Query(`SELECT time FROM system_distributed.cdc_generation_timestamps WHERE key = 'timestamps'`).Iter()
			var ts time.Time
			for iter.Scan(&ts) {
				times = append(times, ts)
			}
			err = iter.Close()
			s.Close()
			if err != nil {
				t.Fatal(err)
			}
			// Newest first, and the timer may have added more meanwhile.
			if len(times) < 3 || !times[len(times)-2].Equal(printed[0]) || !times[len(times)-3].Equal(printed[1]) {
				t.Fatalf("generation times %v, want the first one and then %v", times, printed)
			}
			// The timer keeps printing; a full pipe would block the command.
			go func() {
				for range c.lines {
				}
			}()
			if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := c.cmd.Wait(); err != nil {
				t.Fatalf("exit after SIGTERM: %v", err)
			}
		})
	}
}

func TestHelpDocumentsSignals(t *testing.T) {
	var stderr bytes.Buffer
	if code := run([]string{"--help"}, &bytes.Buffer{}, &stderr); code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	for _, want := range []string{"SIGUSR1", "--generation-delay", "-generation-every", "new CDC generation at", "-data-dir", "-fsync-always", "kill -9"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("--help lacks %q:\n%s", want, stderr.String())
		}
	}
}

// TestDataDirAcrossRestarts stops the command with SIGTERM and starts it
// again on the same --data-dir: the data is still there.
func TestDataDirAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	run := func(stmts ...string) []int {
		c := startChild(t, "--listen", "127.0.0.1:0", "--data-dir", dir)
		line := c.expect(t, "scyllaemu listening on ")
		addr, rest, _ := strings.Cut(line, " ")
		if !strings.Contains(rest, dir) {
			t.Errorf("startup line %q does not name the data directory", line)
		}
		cluster := gocql.NewCluster(addr)
		cluster.Timeout = 10 * time.Second
		s, err := cluster.CreateSession()
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range stmts {
			if err := s.Query(q).Exec(); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		var ids []int
		iter := s.Query(`SELECT id FROM ks.t`).Iter()
		for id := 0; iter.Scan(&id); {
			ids = append(ids, id)
		}
		if err := iter.Close(); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := c.cmd.Wait(); err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
		return ids
	}
	run(`CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
		`CREATE TABLE ks.t (id int PRIMARY KEY)`, `INSERT INTO ks.t (id) VALUES (1)`)
	if ids := run(`INSERT INTO ks.t (id) VALUES (2)`); len(ids) != 2 {
		t.Fatalf("second run sees ids %v, want the first run's and its own", ids)
	}
	if ids := run(); len(ids) != 2 {
		t.Fatalf("third run sees ids %v", ids)
	}
}
