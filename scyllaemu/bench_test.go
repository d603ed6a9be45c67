package scyllaemu_test

import (
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gocql/gocql"

	"github.com/scylla-outbox/scylla-outbox/scyllaemu"
)

// The benchmarks drive the emulator through gocql with 16 concurrent
// goroutines, as an application would; b.N operations are split between
// them. Run: go test ./scyllaemu -run '^$' -bench . -benchtime 100000x
const benchWorkers = 16

func runConcurrent(b *testing.B, op func(i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, benchWorkers)
	b.ResetTimer()
	for w := 0; w < benchWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				if err := op(int(i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

func BenchmarkInsertCDC(b *testing.B) { benchInsertCDC(b, scyllaemu.Options{}) }

// BenchmarkInsertCDCDataDir is BenchmarkInsertCDC with a data directory:
// every acknowledgement waits for its write-ahead log record (group
// commit, fsync once a second).
func BenchmarkInsertCDCDataDir(b *testing.B) {
	benchInsertCDC(b, scyllaemu.Options{DataDir: b.TempDir()})
}

// BenchmarkInsertCDCFsyncAlways fsyncs before every acknowledgement.
func BenchmarkInsertCDCFsyncAlways(b *testing.B) {
	benchInsertCDC(b, scyllaemu.Options{DataDir: b.TempDir(), FsyncAlways: true})
}

func benchInsertCDC(b *testing.B, opts scyllaemu.Options) {
	_, s := startEmu(b, opts)
	mustExec(b, s, createKS,
		`CREATE TABLE ks.outbox (aggregate_id uuid, sequence bigint, event_type text, payload blob, PRIMARY KEY (aggregate_id, sequence)) WITH cdc = {'enabled': true}`)
	payload := make([]byte, 200)
	ids := make([]gocql.UUID, 1024)
	for i := range ids {
		ids[i] = gocql.TimeUUID()
	}
	runConcurrent(b, func(i int) error {
		return s.Session.Query(`INSERT INTO ks.outbox (aggregate_id, sequence, event_type, payload) VALUES (?, ?, ?, ?)`,
			ids[i%len(ids)], i, "OrderCreated", payload).Exec()
	})
}

func BenchmarkSelectPartition(b *testing.B) {
	_, s := startEmu(b, scyllaemu.Options{})
	mustExec(b, s, createKS,
		`CREATE TABLE ks.orders (id uuid PRIMARY KEY, customer text, total bigint, status text)`)
	ids := make([]gocql.UUID, 1024)
	for i := range ids {
		ids[i] = gocql.TimeUUID()
		if err := s.Session.Query(`INSERT INTO ks.orders (id, customer, total, status) VALUES (?, ?, ?, ?)`, ids[i], "c", 100, "PENDING").Exec(); err != nil {
			b.Fatal(err)
		}
	}
	runConcurrent(b, func(i int) error {
		var customer, status string
		var total int64
		return s.Session.Query(`SELECT customer, total, status FROM ks.orders WHERE id = ?`, ids[i%len(ids)]).Scan(&customer, &total, &status)
	})
}

// BenchmarkMemoryMillionRows loads 1,000,000 rows of about 200 bytes and
// reports the process RSS (client and server together, so an upper bound
// for the emulator) and the live heap. Run it alone:
//
//	go test ./scyllaemu -run '^$' -bench MemoryMillionRows -benchtime 1x
func BenchmarkMemoryMillionRows(b *testing.B) {
	const rows = 1_000_000
	_, s := startEmu(b, scyllaemu.Options{})
	mustExec(b, s, createKS,
		`CREATE TABLE ks.mem (id bigint PRIMARY KEY, kind text, payload blob)`)
	payload := make([]byte, 180)
	for n := 0; n < b.N; n++ {
		var next atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < benchWorkers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				q := s.Session.Query(`INSERT INTO ks.mem (id, kind, payload) VALUES (?, ?, ?)`)
				defer q.Release()
				for {
					i := next.Add(1) - 1
					if i >= rows {
						return
					}
					if err := q.Bind(i, "OrderCreated", payload).Exec(); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	b.ReportMetric(float64(procStatus("VmHWM:"))/(1<<20), "peak-rss-MiB")
	// Resident memory of what is still live: the garbage of the load phase
	// is collected and returned to the OS first.
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(procStatus("VmRSS:"))/(1<<20), "rss-MiB")
}

// procStatus reads a memory field (VmRSS:, VmHWM:) of /proc/self/status in
// bytes (Linux only; 0 elsewhere).
func procStatus(field string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, field) {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}
