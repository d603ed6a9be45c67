package bench

import (
	"fmt"
	"html"
	"math"
	"strings"
	"time"
)

// bucketsPerDecade is the histogram's resolution: bucket k holds latencies
// in (10^((k-1)/10), 10^(k/10)] ms, about 26% wide, fine enough to show
// the shape and coarse enough to fill buckets with a few thousand events.
const bucketsPerDecade = 10

func bucketOf(d time.Duration) int {
	ms := float64(d) / float64(time.Millisecond)
	if ms <= 0 {
		ms = 1e-3
	}
	return int(math.Ceil(math.Log10(ms)*bucketsPerDecade - 1e-9))
}

func bucketUpper(k int) float64 {
	return math.Round(math.Pow(10, float64(k)/bucketsPerDecade)*1000) / 1000
}

// histogram counts lat into log-scale buckets, empty buckets between the
// first and last included.
func histogram(lat []time.Duration) []Bucket {
	if len(lat) == 0 {
		return nil
	}
	counts := map[int]int{}
	lo, hi := math.MaxInt, math.MinInt
	for _, d := range lat {
		k := bucketOf(d)
		counts[k]++
		lo, hi = min(lo, k), max(hi, k)
	}
	out := make([]Bucket, 0, hi-lo+1)
	for k := lo; k <= hi; k++ {
		out = append(out, Bucket{UpperMs: bucketUpper(k), Count: counts[k]})
	}
	return out
}

var seriesColors = []string{"#1f77b4", "#e4572e", "#2a9d8f", "#8e44ad"}

// SVG draws the steady runs' latency distributions: one series per
// processor over log-scale buckets, p50 and p99 marked, the settings in
// the title. It is hand-written SVG 1.1 that any browser opens.
func (r *Report) SVG() string {
	const (
		width, height = 1000, 560
		x0, x1        = 80.0, 970.0
		y1            = 480.0
	)
	// The legend stacks one line per series above the plot.
	y0 := 100.0 + 16*float64(len(r.Steady))
	var b strings.Builder
	text := func(x, y float64, size int, anchor, fill, weight, s string) {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="%d" text-anchor="%s" fill="%s" font-weight="%s">%s</text>`+"\n",
			x, y, size, anchor, fill, weight, html.EscapeString(s))
	}
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)

	s, m := r.Settings, r.Machine
	text(width/2, 30, 18, "middle", "#111", "bold",
		fmt.Sprintf("End-to-end latency, outbox commit → consumed from Kafka: %d events/s for %s", s.Rate, time.Duration(s.Duration)))
	rl := s.Relay
	text(width/2, 52, 12, "middle", "#444", "normal",
		fmt.Sprintf("%d cores (%s) · %s stack · relay in its own process, max in flight %d · %d events per order, ~%d-byte payloads",
			m.Cores, m.CPUModel, s.Stack, rl.MaxInFlight, s.EventsPerOrder, s.PayloadBytes))
	text(width/2, 70, 12, "middle", "#444", "normal",
		fmt.Sprintf("cdc: confidence window %s, query window %s, query delays %s/%s · polling: interval %s, safety window %s, batch %d",
			rl.CDC.ConfidenceWindow, rl.CDC.QueryWindow, rl.CDC.PostNonEmptyQueryDelay, rl.CDC.PostEmptyQueryDelay,
			rl.Polling.Interval, rl.Polling.SafetyWindow, rl.Polling.Batch))

	// Bucket range over every series, whole decades.
	lo, hi := math.MaxInt, math.MinInt
	maxShare := 0.0
	for _, st := range r.Steady {
		total := 0
		for _, bk := range st.Histogram {
			total += bk.Count
		}
		for _, bk := range st.Histogram {
			k := int(math.Round(math.Log10(bk.UpperMs) * bucketsPerDecade))
			lo, hi = min(lo, k-1), max(hi, k)
			if total > 0 {
				maxShare = max(maxShare, 100*float64(bk.Count)/float64(total))
			}
		}
	}
	if lo > hi { // no data
		lo, hi = 0, 3*bucketsPerDecade
	}
	dLo := int(math.Floor(float64(lo) / bucketsPerDecade))
	dHi := int(math.Ceil(float64(hi) / bucketsPerDecade))
	if dHi <= dLo {
		dHi = dLo + 1
	}
	xOf := func(logMs float64) float64 {
		return x0 + (logMs-float64(dLo))/float64(dHi-dLo)*(x1-x0)
	}
	yStep := niceStep(maxShare)
	yMax := math.Max(yStep, math.Ceil(maxShare/yStep)*yStep)
	yOf := func(share float64) float64 { return y1 - share/yMax*(y1-y0) }

	// Grid and axes.
	for v := 0.0; v <= yMax+1e-9; v += yStep {
		y := yOf(v)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e5e5e5"/>`+"\n", x0, y, x1, y)
		text(x0-8, y+4, 12, "end", "#333", "normal", trimFloat(v)+"%")
	}
	for d := dLo; d <= dHi; d++ {
		for _, mul := range []float64{1, 2, 5} {
			lg := float64(d) + math.Log10(mul)
			if lg > float64(dHi)+1e-9 {
				break
			}
			x := xOf(lg)
			stroke := "#f0f0f0"
			if mul == 1 {
				stroke = "#d0d0d0"
			}
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`+"\n", x, y0, x, y1, stroke)
			text(x, y1+18, 12, "middle", "#333", "normal", msLabel(math.Pow(10, lg)))
		}
	}
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`+"\n", x0, y1, x1, y1)
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`+"\n", x0, y0, x0, y1)
	text((x0+x1)/2, y1+45, 14, "middle", "#111", "normal", "end-to-end latency (log scale; each bar is a bucket about 26% wide)")
	fmt.Fprintf(&b, `<text x="22" y="%.1f" font-size="14" text-anchor="middle" fill="#111" transform="rotate(-90 22 %.1f)">share of events per bucket</text>`+"\n",
		(y0+y1)/2, (y0+y1)/2)

	// Bars: each bucket split between the series.
	n := max(len(r.Steady), 1)
	for i, st := range r.Steady {
		color := seriesColors[i%len(seriesColors)]
		total := 0
		for _, bk := range st.Histogram {
			total += bk.Count
		}
		for _, bk := range st.Histogram {
			if bk.Count == 0 || total == 0 {
				continue
			}
			k := math.Round(math.Log10(bk.UpperMs) * bucketsPerDecade)
			left, right := xOf((k-1)/bucketsPerDecade), xOf(k/bucketsPerDecade)
			w := (right - left - 2) / float64(n)
			x := left + 1 + float64(i)*w
			share := 100 * float64(bk.Count) / float64(total)
			y := yOf(share)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="0.85"><title>%s: %d events ≤ %s (%.1f%%)</title></rect>`+"\n",
				x, y, math.Max(w, 0.5), y1-y, color, html.EscapeString(st.Processor), bk.Count, msLabel(bk.UpperMs), share)
		}
		// Percentile markers, labels staggered per series.
		for j, pm := range []struct {
			name string
			d    Duration
		}{{"p50", st.P50}, {"p99", st.P99}} {
			if pm.d <= 0 {
				continue
			}
			x := xOf(math.Log10(float64(pm.d) / float64(time.Millisecond)))
			dash := "6,3"
			if j == 1 {
				dash = "2,3"
			}
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1.5" stroke-dasharray="%s"/>`+"\n",
				x, y0, x, y1, color, dash)
			text(x+3, y0+14+float64(2*i+j)*14, 11, "start", color, "bold", st.Processor+" "+pm.name+" "+pm.d.String())
		}
	}

	// Legend.
	for i, st := range r.Steady {
		lx, ly := x0, 94+16*float64(i)
		color := seriesColors[i%len(seriesColors)]
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="12" height="12" fill="%s"/>`+"\n", lx, ly-10, color)
		label := fmt.Sprintf("%s: n=%d, p50 %s, p95 %s, p99 %s, max %s", st.Processor, st.Received, st.P50, st.P95, st.P99, st.Max)
		if st.ConfidenceWindow > 0 {
			label += fmt.Sprintf(" (confidence window %.0f%% of p99)", 100*st.ConfidenceShare)
		}
		text(lx+17, ly, 12, "start", "#111", "normal", label)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// niceStep picks a y grid step of 1, 2 or 5 × 10^n giving 4–10 lines.
func niceStep(maxV float64) float64 {
	if maxV <= 0 {
		return 10
	}
	raw := maxV / 6
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

func trimFloat(v float64) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
}

// msLabel renders a millisecond value as 500µs, 5ms, 50ms, 1s.
func msLabel(ms float64) string {
	switch {
	case ms >= 1000:
		return trimFloat(ms/1000) + "s"
	case ms >= 1:
		return trimFloat(ms) + "ms"
	default:
		return trimFloat(ms*1000) + "µs"
	}
}
