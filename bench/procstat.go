package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
)

// clockTicks is sysconf(_SC_CLK_TCK), the unit of utime and stime in
// /proc/<pid>/stat. Go has no sysconf without cgo, so it is asked of
// `getconf CLK_TCK` once; if that fails, 100 (what Linux reports on every
// mainstream architecture) is assumed and the report says so.
var clockTicks = sync.OnceValues(func() (int, bool) {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && n > 0 {
			return n, false
		}
	}
	return 100, true
})

// procSample is one reading of a process's accounting.
type procSample struct {
	CPUSeconds float64 // user + system
	PeakRSS    int64   // VmHWM, bytes
	RSS        int64   // VmRSS, bytes
}

// sampleProc reads /proc/<pid>/stat and /proc/<pid>/status; pid "self" is
// this process.
func sampleProc(pid string) (s procSample, err error) {
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return s, fmt.Errorf("bench: cpu time of %s: %w", pid, err)
	}
	// The command name (field 2) is in parentheses and may contain spaces;
	// the fields after the last ')' start at field 3 (state).
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("bench: /proc/%s/stat: unexpected format", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("bench: /proc/%s/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseUint(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return s, fmt.Errorf("bench: /proc/%s/stat: bad utime/stime", pid)
	}
	tck, _ := clockTicks()
	s.CPUSeconds = float64(utime+stime) / float64(tck)

	status, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return s, fmt.Errorf("bench: memory of %s: %w", pid, err)
	}
	defer func() {
		if cerr := status.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("bench: memory of %s: %w", pid, cerr))
		}
	}()
	sc := bufio.NewScanner(status)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmHWM":
			dst = &s.PeakRSS
		case "VmRSS":
			dst = &s.RSS
		default:
			continue
		}
		// "  123456 kB"
		fs := strings.Fields(v)
		if len(fs) >= 1 {
			n, _ := strconv.ParseInt(fs[0], 10, 64)
			*dst = n * 1024
		}
	}
	return s, sc.Err()
}

// machineInfo describes the machine the figures come from.
func machineInfo() Machine {
	m := Machine{
		Cores:     runtime.NumCPU(),
		GoVersion: runtime.Version(),
		OS:        runtime.GOOS,
		Arch:      runtime.GOARCH,
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && k == "MemTotal" {
				if fs := strings.Fields(v); len(fs) > 0 {
					n, _ := strconv.ParseInt(fs[0], 10, 64)
					m.MemoryBytes = n * 1024
				}
				break
			}
		}
	}
	m.ClockTicks, m.ClockTicksAssumed = clockTicks()
	return m
}
