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

	// notify, if set, is signalled (without blocking) whenever the child
	// reports a role and when it has exited.
	notify chan<- struct{}
	mu     sync.Mutex
	role   string    // the last role the child reported
	roleAt time.Time // when this process read that report
}

// startRelay starts a relay child with rs in its environment. started is
// taken just before the process starts: a backlog drain is timed from it.
// notify, which may be nil, is signalled as [awaitRole] expects; the
// children of one run share it.
func startRelay(ctx context.Context, o *Options, rs RelaySettings, notify chan<- struct{}) (*relayProc, error) {
	env := childEnv(rs)
	cmd := o.RelayCommand(ctx, env)
	if cmd == nil {
		return nil, errors.New("bench: RelayCommand returned nil")
	}
	if cmd.Env == nil {
		cmd.Env = env
	}
	p := &relayProc{cmd: cmd, stderr: &tail{max: 16 << 10, also: o.Progress},
		ready: make(chan RelaySettings, 1), exited: make(chan struct{}), notify: notify}
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
			if role, ok := strings.CutPrefix(line, rolePrefix); ok {
				p.mu.Lock()
				p.role, p.roleAt = role, time.Now()
				p.mu.Unlock()
				p.signal()
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		p.waitErr = cmd.Wait()
		close(p.exited)
		p.signal()
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

func (p *relayProc) signal() {
	if p.notify == nil {
		return
	}
	select {
	case p.notify <- struct{}{}:
	default:
	}
}

// currentRole is the last role the child reported, and when it was read.
func (p *relayProc) currentRole() (string, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.role, p.roleAt
}

// awaitRole waits until one of procs, started with notify, reports role,
// and returns it and when this process read the report.
func awaitRole(ctx context.Context, notify <-chan struct{}, role string, timeout time.Duration, procs ...*relayProc) (*relayProc, time.Time, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		var roles []string
		running := 0
		for _, p := range procs {
			r, at := p.currentRole()
			if r == role {
				return p, at, nil
			}
			select {
			case <-p.exited:
				r = "exited"
			default:
				running++
			}
			roles = append(roles, p.pid+"="+r)
		}
		if running == 0 {
			return nil, time.Time{}, fmt.Errorf("bench: relay children exited before one was %s (%s); the last one's stderr:\n%s",
				role, strings.Join(roles, " "), procs[len(procs)-1].stderr)
		}
		select {
		case <-notify:
		case <-t.C:
			return nil, time.Time{}, fmt.Errorf("bench: no relay child %s after %s (%s)", role, timeout, strings.Join(roles, " "))
		case <-ctx.Done():
			return nil, time.Time{}, ctx.Err()
		}
	}
}

// kill sends the child SIGKILL, as a crash or an OOM kill would end it,
// and waits until it has been reaped.
func (p *relayProc) kill() error {
	err := p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
	if err != nil {
		return fmt.Errorf("bench: SIGKILL relay child %s: %w", p.pid, err)
	}
	return nil
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
