package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// relayProc is a running relay child.
type relayProc struct {
	cmd     *exec.Cmd
	pid     string
	started time.Time
	stderr  *tail

	ready   chan RelaySettings // the child's effective settings, once
	exited  chan struct{}      // closed when the child has exited
	waitErr error              // set before exited closes
}

// startRelay starts a relay child with rs in its environment. started is
// taken just before the process starts: a backlog drain is timed from it.
func startRelay(ctx context.Context, o *Options, rs RelaySettings) (*relayProc, error) {
	env := childEnv(rs)
	cmd := o.RelayCommand(ctx, env)
	if cmd == nil {
		return nil, errors.New("bench: RelayCommand returned nil")
	}
	if cmd.Env == nil {
		cmd.Env = env
	}
	p := &relayProc{cmd: cmd, stderr: &tail{max: 16 << 10, also: o.Progress},
		ready: make(chan RelaySettings, 1), exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: relay child: %w", err)
	}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start relay child: %w", err)
	}
	p.pid = strconv.Itoa(cmd.Process.Pid)
	// Read stdout until EOF (the pipe must be drained before Wait), then
	// reap the child.
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if js, ok := strings.CutPrefix(line, readyPrefix); ok {
				var eff RelaySettings
				if json.Unmarshal([]byte(js), &eff) == nil {
					select {
					case p.ready <- eff:
					default:
					}
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// childEnv is this process's environment without bench variables, plus the
// child marker and rs.
func childEnv(rs RelaySettings) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OUTBOX_BENCH_") && (rs.GOGC == 0 || !strings.HasPrefix(kv, "GOGC=")) {
			env = append(env, kv)
		}
	}
	env = append(env, EnvChild+"=1")
	return append(env, rs.env()...)
}

// waitReady waits for the child's ready line and returns its effective
// settings and how long after start it came.
func (p *relayProc) waitReady(ctx context.Context, timeout time.Duration) (RelaySettings, time.Duration, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case rs := <-p.ready:
		return rs, time.Since(p.started), nil
	case <-p.exited:
		return RelaySettings{}, 0, fmt.Errorf("bench: relay child exited before it was ready (%v); its stderr:\n%s", p.waitErr, p.stderr)
	case <-t.C:
		return RelaySettings{}, 0, fmt.Errorf("bench: relay child not ready after %s; its stderr:\n%s", timeout, p.stderr)
	case <-ctx.Done():
		return RelaySettings{}, 0, ctx.Err()
	}
}

// sample reads the child's CPU time and memory. It must be called while
// the child runs: /proc/<pid> goes away when it is reaped.
func (p *relayProc) sample() (procSample, error) {
	select {
	case <-p.exited:
		return procSample{}, fmt.Errorf("bench: relay child exited early (%v); its stderr:\n%s", p.waitErr, p.stderr)
	default:
	}
	return sampleProc(p.pid)
}

// stop asks the child to shut down gracefully (SIGTERM) and kills it if it
// has not exited within timeout. It reports an unclean exit.
func (p *relayProc) stop(timeout time.Duration) error {
	select {
	case <-p.exited:
		return p.exitErr()
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.exited:
		return p.exitErr()
	case <-t.C:
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("bench: relay child did not stop within %s of SIGTERM; killed", timeout)
	}
}

func (p *relayProc) exitErr() error {
	if p.waitErr != nil {
		return fmt.Errorf("bench: relay child: %v; its stderr:\n%s", p.waitErr, p.stderr)
	}
	return nil
}

// tail keeps the last max bytes written to it (a child's stderr, shown
// when it fails) and copies everything to also, if set.
type tail struct {
	mu   sync.Mutex
	max  int
	buf  []byte
	also io.Writer
}

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	if t.also != nil {
		_, _ = t.also.Write(b)
	}
	return len(b), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
