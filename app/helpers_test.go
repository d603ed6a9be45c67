package app

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"testing"
)

// closeAtEnd closes c when the test ends, and fails the test if that fails.
func closeAtEnd(t *testing.T, what string, c io.Closer) {
	t.Helper()
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close %s: %v", what, err)
		}
	})
}

// killChild kills a child process of the test and reaps it; a child the
// test has already reaped is left alone.
func killChild(t *testing.T, child *exec.Cmd) {
	t.Helper()
	err := child.Process.Kill()
	if errors.Is(err, os.ErrProcessDone) {
		return
	}
	if err != nil {
		t.Errorf("kill child: %v", err)
		return
	}
	reapKilled(t, child)
}

// reapKilled waits for a child process the test has killed. Its exit on
// the signal is the point of the kill, so only a failure to wait counts.
func reapKilled(t *testing.T, child *exec.Cmd) {
	t.Helper()
	var exit *exec.ExitError
	if err := child.Wait(); err != nil && !errors.As(err, &exit) {
		t.Errorf("wait for child: %v", err)
	}
}
