package sim

import (
	"flag"
	"io"
	"os"
	"testing"
)

var (
	seeds     = flag.Int("sim.seeds", 300, "number of seeds to run, from sim.start")
	firstSeed = flag.Uint64("sim.start", 1, "first seed")
	oneSeed   = flag.Uint64("sim.seed", 0, "run only this seed, verbosely")
	traced    = flag.Bool("sim.trace", false, "with sim.seed: print the run's trace")
)

// TestSimulation runs the fault simulator over many seeds; every failing
// seed prints its scenario, its broken invariants and how to replay it.
func TestSimulation(t *testing.T) {
	if *oneSeed != 0 {
		s := Draw(*oneSeed)
		var out io.Writer
		if *traced {
			out = os.Stdout
		}
		res := RunTraced(s, out)
		t.Log(s)
		t.Log(res.Summary())
		for _, v := range res.Violations {
			t.Error(v)
		}
		return
	}
	schedules := map[string]int{}
	failed := 0
	var total Result
	for seed := *firstSeed; seed < *firstSeed+uint64(*seeds); seed++ {
		s := Draw(seed)
		schedules[s.Schedule()]++
		res := Run(s)
		total.Events += res.Events
		total.Published += res.Published
		total.DeadLettered += res.DeadLettered
		total.Duplicates += res.Duplicates
		total.Republished += res.Republished
		total.Crashes += res.Crashes
		total.Panics += res.Panics
		total.Switches += res.Switches
		if !res.Failed() {
			continue
		}
		failed++
		if failed <= 10 {
			t.Errorf("%s\n%s\nreplay: go test ./sim -run TestSimulation -sim.seed=%d -v", s, res.Summary(), seed)
			for _, v := range res.Violations {
				t.Errorf("  %s", v)
			}
		}
	}
	t.Logf("%d seeds, %d distinct fault schedules, %d failed", *seeds, len(schedules), failed)
	t.Logf("in all: %d events, %d published, %d dead-lettered, %d duplicates (%d reported re-publishes), %d crashes, %d panics, %d generation switches",
		total.Events, total.Published, total.DeadLettered, total.Duplicates, total.Republished, total.Crashes, total.Panics, total.Switches)
}

// TestRunIsDeterministic: the same seed gives the same run.
func TestRunIsDeterministic(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		a, b := Run(Draw(seed)), Run(Draw(seed))
		if a.Summary() != b.Summary() || len(a.Violations) != len(b.Violations) {
			t.Fatalf("seed %d differs:\n%s\n%s", seed, a.Summary(), b.Summary())
		}
	}
}
