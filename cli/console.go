package cli

import (
	"fmt"
	"io"
	"sync"
)

// cmdEnv is what a subcommand sees of the process: its two output streams
// and its environment.
type cmdEnv struct {
	Stdout, Stderr *console
	Getenv         func(string) string
	Environ        []string
}

// console is an output stream of a command. Its first write error sticks:
// later writes are skipped and Run fails the command with it, so output lost
// to a full disk or a closed pipe is never reported as success. Loggers and
// progress reporters write from several goroutines, hence the lock.
type console struct {
	mu  sync.Mutex
	w   io.Writer
	err error
}

func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	c.err = err
	return n, err
}

// printf writes formatted output; a failure is kept for Err.
func (c *console) printf(format string, args ...any) { _, _ = fmt.Fprintf(c, format, args...) }

// println writes its operands and a newline; a failure is kept for Err.
func (c *console) println(args ...any) { _, _ = fmt.Fprintln(c, args...) }

// Err is the first write error, if any.
func (c *console) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}
