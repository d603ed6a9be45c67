package dlqtool

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestProgressBar checks the bar's rendering with a fake clock: counts,
// ETA, in-place updates, notes above the bar, and the final newline.
func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(0, 0)
	ok := 0
	p := newProgressAt(&buf, "replay", 40, func() time.Time { return now }, func() string { return "ok " + strconv.Itoa(ok) })
	if !p.bar {
		t.Fatal("40 entries should get a bar")
	}
	for i := 0; i < 10; i++ {
		now = now.Add(time.Second)
		ok++
		p.step(false, "published %d", i)
	}
	if frame := lastFrame(buf.String()); frame != "replay [######..................] 10/40 ok 10 ETA 30s" {
		t.Errorf("frame after 10 of 40 in 10s = %q", frame)
	}
	p.step(true, "failed x")
	s := buf.String()
	if !strings.Contains(s, "\rfailed x\n\rreplay [") {
		t.Errorf("a note must blank the bar, print its line and redraw the bar:\n%q", s)
	}
	// Frames arriving faster than barRedraw are not drawn, except the last.
	before := strings.Count(buf.String(), "\r")
	for i := 0; i < 29; i++ {
		p.step(false, "published")
	}
	if drawn := strings.Count(buf.String(), "\r") - before; drawn != 1 {
		t.Errorf("%d frames drawn within one redraw interval, want only the final one", drawn)
	}
	p.finish()
	if s := buf.String(); !strings.HasSuffix(s, "40/40 ok 10 done in 10s\n") {
		t.Errorf("final output %q", s[strings.LastIndex(s, "\r"):])
	}
}

func TestProgressLines(t *testing.T) {
	var buf bytes.Buffer
	p := newProgressAt(&buf, "replay", 3, time.Now, func() string { return "" })
	for i := 0; i < 3; i++ {
		p.step(false, "entry %d", i)
	}
	p.finish()
	if got := buf.String(); got != "entry 0\nentry 1\nentry 2\n" {
		t.Errorf("line mode output %q", got)
	}
	// A dry run (lines=true) never draws a bar, however many entries.
	if p := newProgress(&buf, "x", 100, true, func() string { return "" }); p.bar {
		t.Error("lines mode drew a bar")
	}
}

func newProgressAt(w *bytes.Buffer, verb string, total int, now func() time.Time, counts func() string) *progress {
	return newProgressClock(w, verb, total, false, counts, now)
}

func lastFrame(s string) string {
	s = s[strings.LastIndex(s, "\r")+1:]
	return strings.TrimRight(s, " ")
}
