package dlqtool

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// barThreshold is the entry count above which progress is a bar even when
// the writer is not a terminal: beyond it, one line per entry buries the
// refusals and failures the operator has to read.
const barThreshold = 20

// barRedraw limits how often the bar is redrawn, so a fast run does not
// spend its time writing to the terminal (or fill a log file with
// thousands of carriage-return frames).
const barRedraw = 100 * time.Millisecond

const barWidth = 24

// progress reports what a replay or discard does, entry by entry: as one
// line per entry, or as a single line with a bar, counts and an ETA that is
// rewritten in place with '\r'. In bar mode only notable outcomes (refusals,
// failures) get a line of their own, printed above the bar.
//
// Write errors are ignored: progress output is advisory, and failing to
// print it must not abort a replay halfway through an aggregate.
type progress struct {
	w      io.Writer
	bar    bool
	verb   string
	total  int
	done   int
	counts func() string // the outcome counts, for the bar
	now    func() time.Time
	start  time.Time
	drawn  time.Time // when the bar was last drawn
	width  int       // length of the bar as last drawn, to blank it out
}

func newProgress(w io.Writer, verb string, total int, lines bool, counts func() string) *progress {
	return newProgressClock(w, verb, total, lines, counts, time.Now)
}

// newProgressClock is newProgress with a clock, for tests of the ETA.
func newProgressClock(w io.Writer, verb string, total int, lines bool, counts func() string, now func() time.Time) *progress {
	if w == nil {
		w = io.Discard
	}
	p := &progress{w: w, verb: verb, total: total, counts: counts, now: now}
	p.bar = !lines && w != io.Discard && total > 0 && (total > barThreshold || isTerminal(w))
	p.start = p.now()
	if p.bar {
		p.draw()
	}
	return p
}

// isTerminal reports whether w is a character device, without depending on
// golang.org/x/term: good enough to decide between a bar and plain lines.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// note prints a line that must stay visible (a refusal, a failure, a
// dry-run decision), above the bar in bar mode.
func (p *progress) note(format string, args ...any) {
	if p.bar {
		p.printf("\r%s\r", strings.Repeat(" ", p.width))
		p.width = 0
	}
	p.printf(format+"\n", args...)
	if p.bar {
		p.draw()
	}
}

// step records one entry as handled. msg is its line in line mode; in bar
// mode it is printed only when notable.
func (p *progress) step(notable bool, format string, args ...any) {
	if !p.bar || notable {
		p.note(format, args...)
	}
	p.done++
	if p.bar && (p.done == p.total || p.now().Sub(p.drawn) >= barRedraw) {
		p.draw()
	}
}

// finish draws the final state of the bar and ends its line.
func (p *progress) finish() {
	if p.bar {
		p.draw()
		p.printf("\n")
		p.bar = false // later notes are plain lines
	}
}

func (p *progress) draw() {
	p.drawn = p.now()
	filled := 0
	if p.total > 0 {
		filled = p.done * barWidth / p.total
	}
	s := fmt.Sprintf("%s [%s%s] %d/%d %s %s", p.verb,
		strings.Repeat("#", filled), strings.Repeat(".", barWidth-filled), p.done, p.total, p.counts(), p.eta())
	pad := ""
	if n := p.width - len(s); n > 0 {
		pad = strings.Repeat(" ", n) // blank out the tail of a longer previous frame
	}
	p.printf("\r%s%s", s, pad)
	p.width = len(s)
}

// printf writes to the progress output, dropping a write error: see
// [progress].
func (p *progress) printf(format string, args ...any) {
	_, _ = fmt.Fprintf(p.w, format, args...)
}

func (p *progress) eta() string {
	elapsed := p.now().Sub(p.start)
	switch {
	case p.done >= p.total:
		return "done in " + elapsed.Round(100*time.Millisecond).String()
	case p.done == 0:
		return "ETA -"
	}
	left := time.Duration(float64(elapsed) / float64(p.done) * float64(p.total-p.done))
	return "ETA " + left.Round(time.Second).String()
}
