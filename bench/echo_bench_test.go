package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reach-net/reach/frame"
)

// The echo benchmark's load: every client writes frames, one per Write as
// a program written from the guide sends each message with one Send, as
// fast as the server echoes them, and counts the bytes that come back.
const (
	// echoWarmup lets TCP windows open and buffers reach their working
	// size before anything is counted.
	echoWarmup = 200 * time.Millisecond
	// echoWindow is one measurement: long enough for thousands of batches,
	// short enough that the whole side-by-side run stays near a minute.
	echoWindow = 400 * time.Millisecond
	// echoCycles is how many windows each server gets per iteration, the
	// servers taking turns: the machine's load drifts less between
	// neighbouring short windows than between long ones.
	echoCycles = 2
	// echoBlock is the unit of the load generator's flow control: a
	// block is this many bytes of frames (or one bigger frame).
	echoBlock = 16 << 10
	// echoInFlight is how many blocks a client may have written before
	// their echo is back: enough to keep the server busy, few enough that
	// a stop drains in milliseconds.
	echoInFlight = 4
	// echoReadBuffer is the load generator's read size.
	echoReadBuffer = 256 << 10
	// echoReadyTimeout bounds waiting for a server to listen: it takes a
	// few milliseconds; seconds means it failed to start.
	echoReadyTimeout = 5 * time.Second
	// echoDrainTimeout bounds the end of a measurement: a server that
	// holds echoes back this long has lost them.
	echoDrainTimeout = 10 * time.Second
)

// echoServer is a server process under test.
type echoServer struct {
	name   string
	addr   string
	cmd    *exec.Cmd
	stderr *strings.Builder
}

// freeAddr returns a loopback address with a port no one listens on.
func freeAddr(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startEchoServer starts bin with args (addr appended by the caller) and
// waits until it accepts on addr. Its stdout, the per-frame log, goes to
// /dev/null: the cost measured is building and writing the log, not a
// terminal drawing it.
func startEchoServer(b *testing.B, name, addr string, env []string, bin string, args ...string) *echoServer {
	b.Helper()
	s := &echoServer{name: name, addr: addr, cmd: exec.Command(bin, args...), stderr: &strings.Builder{}}
	s.cmd.Env = env
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	})
	deadline := time.Now().Add(echoReadyTimeout)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return s
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s did not listen on %s within %s: %v\nstderr:\n%s", name, addr, echoReadyTimeout, err, s.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// requireAllLogged stops a reach server with Ctrl-C and fails b if its
// log left any event out ("N client events not shown"): the benchmark
// measures reach logging every frame, as the tutorial's server shows
// every message.
func (s *echoServer) requireAllLogged(b *testing.B) {
	b.Helper()
	s.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(echoDrainTimeout):
		b.Fatalf("%s did not stop within %s of Ctrl-C", s.name, echoDrainTimeout)
	}
	if strings.Contains(s.stderr.String(), "not shown") {
		b.Fatalf("%s did not log every frame:\n%s", s.name, s.stderr)
	}
}

// startRawEcho starts the plain io.Copy echo (this test binary, see
// runRawEcho).
func startRawEcho(b *testing.B) *echoServer {
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	addr := freeAddr(b)
	return startEchoServer(b, "raw", addr, append(os.Environ(), helperEnv+"="+rawEchoMode+addr), self)
}

// startReachServe starts `reach serve` on loopback with no per-address
// limit (every load client comes from 127.0.0.1), plus extra flags.
func startReachServe(b *testing.B, name string, extra ...string) *echoServer {
	if reachBuildErr != nil {
		b.Fatal(reachBuildErr)
	}
	return startServeBin(b, reachBin, name, extra...)
}

// startServeBin is startReachServe of the reach binary bin.
func startServeBin(b *testing.B, bin, name string, extra ...string) *echoServer {
	addr := freeAddr(b)
	_, port, _ := net.SplitHostPort(addr)
	args := append([]string{"serve", "--bind", "127.0.0.1", "--port", port, "--max-per-ip", "0", "--max-clients", "20000"}, extra...)
	return startEchoServer(b, name, addr, nil, bin, args...)
}

// baseEnv names an environment variable holding a second reach binary
// (the build before a change, say): BenchmarkEcho then measures its serve
// and serve --json too, as "base" and "base-json", in the same windows,
// taking turns with the others, for a comparison the machine's drift
// does not blur.
const baseEnv = "REACH_BENCH_BASE"

// extraEnv names an environment variable holding flags for one more
// reach serve of the binary measured, "extra" (say `--json
// --message-bytes 4096`): a setting measured against the defaults in the
// same binary and windows.
const extraEnv = "REACH_BENCH_EXTRA"

// echoServers starts the servers BenchmarkEcho compares: the plain echo
// first, then reach serve and reach serve --json, then the one extraEnv
// asks for and the base build's, when named.
func echoServers(b *testing.B) []*echoServer {
	servers := []*echoServer{
		startRawEcho(b),
		startReachServe(b, "reach"),
		startReachServe(b, "json", "--json"),
	}
	if extra := os.Getenv(extraEnv); extra != "" {
		servers = append(servers, startReachServe(b, "extra", strings.Fields(extra)...))
	}
	if base := os.Getenv(baseEnv); base != "" {
		if _, err := os.Stat(base); err != nil {
			b.Fatalf("%s: %v", baseEnv, err)
		}
		servers = append(servers, startServeBin(b, base, "base"), startServeBin(b, base, "base-json", "--json"))
	}
	return servers
}

// echoClient is one connection of the load generator.
type echoClient struct {
	conn       *net.TCPConn
	block      []byte        // frames written, one per Write
	frame      int           // bytes of one frame
	tokens     chan struct{} // one per block in flight
	dead       chan struct{} // closed when the reader fails
	sent, recv int64
}

// echoResult is one measurement of one server: bytes echoed per second,
// and the CPU time the server process spent per byte echoed (its threads'
// run time, which on a machine shared with the load generator is what
// sets the rate; it varies less with the machine's load than the rate).
type echoResult struct {
	rate    float64 // bytes per second
	cpuPerB float64 // server CPU nanoseconds per byte
}

// echoRate runs clients clients against s, each sending frames with
// size-byte payloads, and returns the echoed bytes per second over
// echoWindow after echoWarmup, with the server's CPU time per byte over
// the same window. It fails b unless every byte sent came back.
func echoRate(b *testing.B, s *echoServer, clients, size int) echoResult {
	addr := s.addr
	b.Helper()
	payload := bytes.Repeat([]byte("hola mundo "), size/11+1)[:size]
	one := frame.Append(nil, payload)
	block := bytes.Repeat(one, max(1, echoBlock/len(one)))
	cs := make([]*echoClient, clients)
	for i := range cs {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		cs[i] = &echoClient{conn: c.(*net.TCPConn), block: block, frame: len(one), tokens: make(chan struct{}, echoInFlight), dead: make(chan struct{})}
	}
	var echoed atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 2*clients)
	for _, c := range cs {
		c.conn.SetDeadline(time.Now().Add(echoWarmup + echoWindow + echoDrainTimeout))
		wg.Add(2)
		go func() { // writer
			defer wg.Done()
			for !stop.Load() {
				select {
				case c.tokens <- struct{}{}:
				case <-c.dead:
					return
				}
				for off := 0; off < len(c.block); off += c.frame {
					if _, err := c.conn.Write(c.block[off : off+c.frame]); err != nil {
						errs <- err
						return
					}
				}
				c.sent += int64(len(c.block))
			}
			c.conn.CloseWrite()
		}()
		go func() { // reader
			defer wg.Done()
			buf := make([]byte, echoReadBuffer)
			var released int64
			for {
				n, err := c.conn.Read(buf)
				c.recv += int64(n)
				echoed.Add(int64(n))
				for ; c.recv-released >= int64(len(c.block)); released += int64(len(c.block)) {
					<-c.tokens
				}
				if errors.Is(err, io.EOF) {
					return
				}
				if err != nil {
					errs <- err
					close(c.dead)
					return
				}
			}
		}()
	}
	time.Sleep(echoWarmup)
	n0, t0, c0 := echoed.Load(), time.Now(), cpuTime(s.cmd.Process.Pid)
	time.Sleep(echoWindow)
	n1, t1, c1 := echoed.Load(), time.Now(), cpuTime(s.cmd.Process.Pid)
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatalf("echo load on %s: %v", addr, err)
	}
	for i, c := range cs {
		c.conn.Close()
		if c.recv != c.sent {
			b.Fatalf("client %d of %s: sent %d bytes, %d came back", i, addr, c.sent, c.recv)
		}
	}
	return echoResult{rate: float64(n1-n0) / t1.Sub(t0).Seconds(), cpuPerB: float64(c1-c0) / float64(n1-n0)}
}

// cpuTime is the run time in nanoseconds of process pid's threads so far
// (the first field of each thread's schedstat), or 0 where there is no
// /proc.
func cpuTime(pid int) int64 {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var sum int64
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue // a thread that ended
		}
		f := strings.Fields(string(data))
		if len(f) > 0 {
			ns, _ := strconv.ParseInt(f[0], 10, 64)
			sum += ns
		}
	}
	return sum
}

// median is the middle value of xs (the mean of the two middle ones).
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

// BenchmarkEcho measures echo throughput side by side: reach serve (human
// log, and --json) against a plain io.Copy echo, all three on loopback at
// once, measured one after another in short windows, echoCycles turns per
// iteration (the order rotating), so that a change in the machine's load
// hits all three alike. It reports each server's MB/s and CPU time per
// MB, and reach's ratios to raw, medians over iterations (run with
// -benchtime 3x: one iteration takes about 4 s). Every frame is
// checked to come back; the logs go to /dev/null. With REACH_BENCH_EXTRA
// (extraEnv) or REACH_BENCH_BASE (baseEnv), their servers join the turns.
func BenchmarkEcho(b *testing.B) {
	servers := echoServers(b)
	for _, size := range []int{64, 64 << 10} {
		for _, clients := range []int{4, 100} {
			b.Run(fmt.Sprintf("%s/clients=%d", sizeName(size), clients), func(b *testing.B) {
				rates := make(map[string][]float64)
				ratios := make(map[string][]float64)
				cpu := make(map[string][]float64)
				for i := 0; b.Loop(); i++ {
					got := make(map[string]echoResult)
					for k := range echoCycles {
						for j := range servers {
							s := servers[(i+k+j)%len(servers)]
							r := echoRate(b, s, clients, size)
							got[s.name] = echoResult{rate: got[s.name].rate + r.rate/echoCycles, cpuPerB: got[s.name].cpuPerB + r.cpuPerB/echoCycles}
						}
					}
					for _, s := range servers {
						rates[s.name] = append(rates[s.name], got[s.name].rate)
						cpu[s.name] = append(cpu[s.name], got[s.name].cpuPerB*1e6/1e3)
					}
					for _, s := range servers[1:] {
						ratios[s.name] = append(ratios[s.name], got[s.name].rate/got["raw"].rate)
					}
				}
				for _, s := range servers {
					b.ReportMetric(median(rates[s.name])/1e6, s.name+"-MB/s")
					b.ReportMetric(median(cpu[s.name]), s.name+"-cpu-µs/MB")
				}
				for _, s := range servers[1:] {
					b.ReportMetric(median(ratios[s.name]), s.name+"/raw")
				}
				b.ReportMetric(loadAverage(), "load1")
			})
		}
	}
	for _, s := range servers[1:] {
		s.requireAllLogged(b)
	}
}

func sizeName(n int) string {
	if n >= 1<<10 {
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

// idleClients is how many idle clients BenchmarkEchoIdle holds open: the
// issue's target. It needs 10,000 file descriptors in each process.
const idleClients = 10_000

// BenchmarkEchoIdle measures what an idle client costs reach serve: the
// growth of the server process's resident memory (VmRSS) per client, after
// idleClients clients each sent one 16 KiB frame, got its echo and went
// quiet. Kernel socket buffers are not in it. Each iteration starts a
// fresh server.
func BenchmarkEchoIdle(b *testing.B) {
	for b.Loop() {
		s := startReachServe(b, "reach") // a fresh process: no memory left from the last run
		before := vmRSS(b, s.cmd.Process.Pid)
		payload := bytes.Repeat([]byte("x"), 16<<10)
		conns := make([]net.Conn, 0, idleClients)
		for range idleClients {
			c, err := net.Dial("tcp", s.addr)
			if err != nil {
				b.Fatalf("client %d: %v (raise ulimit -n)", len(conns)+1, err)
			}
			conns = append(conns, c)
			r := frame.NewReader(c, 0)
			if err := frame.Write(c, payload); err != nil {
				b.Fatal(err)
			}
			if got, err := r.Next(); err != nil || len(got) != len(payload) {
				b.Fatalf("client %d: echo of %d bytes: %d bytes, %v", len(conns), len(payload), len(got), err)
			}
		}
		after := vmRSS(b, s.cmd.Process.Pid)
		b.ReportMetric(float64(after-before)/idleClients, "B/client")
		for _, c := range conns {
			c.Close()
		}
	}
}

// vmRSS is process pid's resident memory in bytes.
func vmRSS(b *testing.B, pid int) int64 {
	b.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				b.Fatalf("VmRSS %q: %v", v, err)
			}
			return kb << 10
		}
	}
	b.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}
