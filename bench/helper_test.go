// Package bench measures, on the real-router lab, how long reach and the
// tools users pick today (upnpc, natpmpc) take to do the same job against
// the same router. It holds benchmarks only; see docs/BENCHMARKS.md for how
// to run them and the results.
package bench

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reach-net/reach/lab"
)

// commandTimeout bounds one measured command: the slowest tool measured
// (upnpc's fixed 2 s discovery wait) ends in ~2.1 s; anything near this is
// a hang, not a result.
const commandTimeout = 15 * time.Second

// binEnv names an environment variable holding a reach binary to measure
// instead of building ./cmd/reach (a release build, say).
const binEnv = "REACH_BENCH_BIN"

var (
	reachBin      string // path of the reach binary measured
	reachBuildErr error  // why it could not be built
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		if addr, ok := strings.CutPrefix(mode, rawEchoMode); ok {
			os.Exit(runRawEcho(addr))
		}
		if mode == ssdpFirstMode {
			os.Exit(runSSDPFirst())
		}
		os.Exit(runDiscoverHelper(mode))
	}
	flag.Parse()
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		// Plain `go test ./...`: there is nothing to measure, so do not
		// spend seconds building reach.
		reachBuildErr = errors.New("reach not built: benchmarks run only with -bench")
		os.Exit(m.Run())
	}
	bin, cleanup, err := lab.ReachBinary(binEnv)
	reachBin, reachBuildErr = bin, err
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// newLab starts a lab for a top-level benchmark, after checking that the
// lab can run here (lab.Require: skip unless root, fail when CI=true) and
// that reach was built.
func newLab(b *testing.B, opts lab.Options) *lab.Lab {
	b.Helper()
	lab.Require(b)
	if reachBuildErr != nil {
		b.Fatal(reachBuildErr)
	}
	return lab.New(b, opts)
}

// cacheDir is a user cache directory for reach (XDG_CACHE_HOME), so that
// "cold" runs start without the remembered router and "cached" runs start
// with it, whatever the machine's own cache holds.
type cacheDir string

func newCacheDir(b *testing.B) cacheDir { return cacheDir(b.TempDir()) }

// clear forgets everything reach remembered.
func (c cacheDir) clear(b *testing.B) {
	b.Helper()
	entries, err := os.ReadDir(string(c))
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(string(c), e.Name())); err != nil {
			b.Fatal(err)
		}
	}
}

func (c cacheDir) env() []string {
	return append(os.Environ(), "XDG_CACHE_HOME="+string(c), "HOME="+string(c))
}

// result is what one command printed and how it ended.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// run runs name with args in host's namespace with env (nil: the test's)
// and returns what it printed. It fails b only when the command could not
// run or timed out; the caller judges the exit code and output.
func run(b *testing.B, l *lab.Lab, env []string, host, name string, args ...string) result {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := l.Command(ctx, host, name, args...)
	cmd.Env = env
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok && ctx.Err() == nil {
		r.code = ee.ExitCode()
		return r
	}
	if err != nil {
		b.Fatalf("%s %s in %s: %v\n%s", name, strings.Join(args, " "), host, err, r)
	}
	return r
}

// timings collects the wall time of each measured command of a benchmark
// and reports their median and maximum next to Go's mean (ns/op): the mean
// of ten runs hides one slow outlier, the median does not move with it.
type timings []time.Duration

// measure runs one command between StartTimer and StopTimer, with the
// timer otherwise stopped, and records its wall time.
func (t *timings) measure(b *testing.B, l *lab.Lab, env []string, host, name string, args ...string) result {
	b.Helper()
	b.StartTimer()
	start := time.Now()
	r := run(b, l, env, host, name, args...)
	d := time.Since(start)
	b.StopTimer()
	*t = append(*t, d)
	return r
}

// report adds the fastest, median and slowest run and the load average to
// the benchmark's line.
func (t timings) report(b *testing.B) {
	if len(t) == 0 {
		return
	}
	s := slices.Sorted(slices.Values(t))
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(s[0]), "min-ms")
	b.ReportMetric(ms(t.median()), "median-ms")
	b.ReportMetric(ms(s[len(s)-1]), "max-ms")
	b.ReportMetric(loadAverage(), "load1")
}

// median is the middle duration (the mean of the two middle ones).
func (t timings) median() time.Duration {
	if len(t) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(t))
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

// loadAverage is the machine's one-minute load average (0 if unknown),
// reported next to the times: on 2 cores, a load above 2 means the tools
// waited for a CPU and every time above is inflated.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0
	}
	return v
}

// loop runs body b.N times with the timer stopped outside the measured
// commands (body calls timings.measure), then reports the timings.
func loop(b *testing.B, body func(t *timings)) {
	b.Helper()
	var t timings
	b.StopTimer()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		body(&t)
	}
	t.report(b)
}

// must fails b unless r ended with code and its output holds every want.
func must(b *testing.B, what string, r result, code int, want ...string) {
	b.Helper()
	if r.code != code {
		b.Fatalf("%s: want exit %d, got:\n%s", what, code, r)
	}
	for _, w := range want {
		if !strings.Contains(r.stdout+r.stderr, w) {
			b.Fatalf("%s: output lacks %q:\n%s", what, w, r)
		}
	}
}

// stepTimes is, for each step line a reach command printed on stderr
// ("  ok   map        ..."), when it came, counted from the command's start;
// "exit" is when the command ended.
type stepTimes map[string]time.Duration

// measureSteps runs one reach command like timings.measure and also notes
// when each of its step lines arrived: reach prints a step's line the
// moment the step ends (stderr is not a terminal here, so no spinner), which
// splits the wall time into its steps without instrumenting reach.
func (t *timings) measureSteps(b *testing.B, l *lab.Lab, env []string, host, name string, args ...string) (result, stepTimes) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := l.Command(ctx, host, name, args...)
	cmd.Env = env
	var out strings.Builder
	cmd.Stdout = &out
	pr, pw, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = pw
	steps := stepTimes{}
	var errb strings.Builder
	read := make(chan struct{})
	var start time.Time
	b.StartTimer()
	start = time.Now()
	err = cmd.Start()
	pw.Close()
	go func() {
		defer close(read)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			at := time.Since(start)
			line := sc.Text()
			errb.WriteString(line + "\n")
			if f := strings.Fields(line); len(f) >= 2 && (f[0] == "ok" || f[0] == "warn" || f[0] == "fail") {
				if _, seen := steps[f[1]]; !seen {
					steps[f[1]] = at
				}
			}
		}
	}()
	if err == nil {
		err = cmd.Wait()
	}
	steps["exit"] = time.Since(start)
	b.StopTimer()
	pr.Close()
	<-read
	*t = append(*t, steps["exit"])
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok && ctx.Err() == nil {
		r.code = ee.ExitCode()
	} else if err != nil {
		b.Fatalf("%s %s in %s: %v\n%s", name, strings.Join(args, " "), host, err, r)
	}
	return r, steps
}

// stepSplits collects, over a benchmark's iterations, the time between
// consecutive step lines, and reports the median of each as "<to>-ms".
type stepSplits struct {
	order []string // step names in the order they end
	got   map[string]timings
}

func newStepSplits(order ...string) *stepSplits {
	return &stepSplits{order: append(order, "exit"), got: map[string]timings{}}
}

// add records one run; it fails b when a step line is missing.
func (s *stepSplits) add(b *testing.B, st stepTimes, r result) {
	b.Helper()
	var prev time.Duration
	for _, name := range s.order {
		at, ok := st[name]
		if !ok {
			b.Fatalf("no %q step line:\n%s", name, r)
		}
		s.got[name] = append(s.got[name], at-prev)
		prev = at
	}
}

func (s *stepSplits) report(b *testing.B) {
	for _, name := range s.order {
		if t := s.got[name]; len(t) > 0 {
			b.ReportMetric(float64(t.median())/float64(time.Millisecond), "to-"+name+"-ms")
		}
	}
}
