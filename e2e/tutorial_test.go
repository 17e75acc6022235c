package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reach-net/reach/frame"
	"github.com/reach-net/reach/lab"
)

// Tests against the programs of the C# async-socket tutorial reach grew
// from, as its reader writes them (testdata/tutorial), run with Mono in the
// lab: reach must stay byte-compatible with them (CLI.md, the wire format).
const (
	// compileTimeout bounds compiling the programs with mcs: about a second
	// each on an idle machine, more on a loaded 2-core CI runner.
	compileTimeout = 2 * time.Minute
	// programTimeout bounds the life of one tutorial program in a test: the
	// client gives up on a reply after 2 s per message and connects within a
	// few seconds of the mapping's existence.
	programTimeout = time.Minute
)

// tutorialExes are the compiled programs, built once per test binary run.
var tutorialExes struct {
	once sync.Once
	dir  string // holds Server.exe, Client.exe, GuideClient.exe
	err  error
}

// tutorialSources are the tutorial's programs as its readers write them.
var tutorialSources = []string{"Server.cs", "Client.cs", "GuideClient.cs"}

// tutorialPrograms returns the compiled tutorial Server.exe and Client.exe.
// Without the lab or Mono it skips t, or fails it when CI is "true".
func tutorialPrograms(t *testing.T) (server, client string) {
	t.Helper()
	lab.Require(t)
	dir := monoPrograms(t)
	return filepath.Join(dir, "Server.exe"), filepath.Join(dir, "Client.exe")
}

// monoPrograms returns the directory of the compiled tutorial programs;
// they need Mono, not the lab. Without Mono it skips t, or fails it when CI
// is "true".
func monoPrograms(t *testing.T) string {
	t.Helper()
	var missing []string
	for _, b := range []string{"mcs", "mono"} {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		msg := "tutorial tests need the Debian packages mono-mcs mono-runtime (missing: " + strings.Join(missing, ", ") + ")"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	tutorialExes.once.Do(func() {
		tutorialExes.dir, tutorialExes.err = compileTutorial()
	})
	if tutorialExes.err != nil {
		t.Fatal(tutorialExes.err)
	}
	return tutorialExes.dir
}

// compileTutorial compiles the tutorial programs into a directory of the
// system temp dir named after the sources' hash: later runs of the same
// sources reuse it, so nothing piles up.
func compileTutorial() (string, error) {
	h := sha256.New()
	for _, s := range tutorialSources {
		b, err := os.ReadFile(filepath.Join("testdata", "tutorial", s))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n%s", s, len(b), b)
	}
	dir := filepath.Join(os.TempDir(), "reach-e2e-tutorial-"+hex.EncodeToString(h.Sum(nil))[:16])
	if exists(filepath.Join(dir, "GuideClient.exe")) {
		return dir, nil
	}
	tmp, err := os.MkdirTemp(os.TempDir(), "reach-e2e-tutorial-build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), compileTimeout)
	defer cancel()
	for _, s := range tutorialSources {
		out := filepath.Join(tmp, strings.TrimSuffix(s, ".cs")+".exe")
		if b, err := exec.CommandContext(ctx, "mcs", "-out:"+out, filepath.Join("testdata", "tutorial", s)).CombinedOutput(); err != nil {
			return "", fmt.Errorf("mcs %s: %v\n%s", s, err, b)
		}
	}
	// Another test process may have won the race: its build is as good.
	if err := os.Rename(tmp, dir); err != nil && !exists(filepath.Join(dir, "GuideClient.exe")) {
		return "", fmt.Errorf("keeping the tutorial build: %w", err)
	}
	return dir, nil
}

// exists reports whether path exists.
func exists(path string) bool { _, err := os.Stat(path); return err == nil }

// program is a tutorial program running under mono in a lab host.
type program struct {
	t    *testing.T
	name string
	ctx  context.Context
	done chan struct{} // closed when the process exited
	code int           // exit code, set before done closes

	mu  sync.Mutex
	out strings.Builder // stdout and stderr
}

// startProgram runs `mono exe args...` in host until it exits, the test
// ends or programTimeout passes.
func startProgram(t *testing.T, l *lab.Lab, host, exe string, args ...string) *program {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), programTimeout)
	p := &program{t: t, name: filepath.Base(exe) + " " + strings.Join(args, " "), ctx: ctx, done: make(chan struct{})}
	cmd := l.Command(ctx, host, "mono", append([]string{exe}, args...)...)
	cmd.Stdout = lockedWriter{&p.mu, &p.out}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting mono %s in %s: %v", p.name, host, err)
	}
	go func() {
		var exit *exec.ExitError
		if err := cmd.Wait(); errors.As(err, &exit) {
			p.code = exit.ExitCode()
		} else if err != nil {
			p.code = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-p.done
		if t.Failed() {
			t.Logf("mono %s (in %s) printed:\n%s", p.name, host, p.output())
		}
	})
	return p
}

// output is everything the program printed so far.
func (p *program) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitOutput waits until the program's output matches re, failing the test
// if it exits or readyTimeout passes first.
func (p *program) waitOutput(re *regexp.Regexp) {
	p.t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for !re.MatchString(p.output()) {
		select {
		case <-p.done:
			if re.MatchString(p.output()) {
				return
			}
			p.t.Fatalf("mono %s exited with %d without printing %s\n%s", p.name, p.code, re, p.output())
		case <-time.After(outputPoll):
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("mono %s did not print %s within %s\n%s", p.name, re, readyTimeout, p.output())
		}
	}
}

// wait waits for the program to exit by itself and returns its output.
func (p *program) wait() string {
	p.t.Helper()
	<-p.done
	if p.ctx.Err() != nil || p.code != 0 {
		p.t.Fatalf("mono %s: exit %d (%v)\n%s", p.name, p.code, p.ctx.Err(), p.output())
	}
	return p.output()
}

// startTutorialServer starts the tutorial server on pc port 1234 and waits
// until it listens.
func startTutorialServer(t *testing.T, l *lab.Lab, exe string) *program {
	t.Helper()
	srv := startProgram(t, l, lab.PC, exe, "1234")
	srv.waitOutput(regexp.MustCompile(`listening on port 1234`))
	return srv
}

// mappedTutorialServer starts a lab with the tutorial server on pc port
// 1234, mapped by `reach map` as the 11.0.0.2:1234 of the internet.
func mappedTutorialServer(t *testing.T) (*lab.Lab, *program) {
	t.Helper()
	server, _ := tutorialPrograms(t)
	l := newLab(t, lab.Options{UPnP: true})
	srv := startTutorialServer(t, l, server)
	if m := reach(t, l, lab.PC, "map", "--port", "1234"); m.code != 0 {
		t.Fatalf("reach map --port 1234 failed\n%s", m)
	}
	return l, srv
}

// received matches the tutorial server's line for message.
func received(message string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^client \d+: ` + regexp.QuoteMeta(message) + `$`)
}

func TestTutorialServerGetsReachSend(t *testing.T) {
	t.Parallel()
	l, srv := mappedTutorialServer(t)
	send := reach(t, l, lab.Inet, "send", "11.0.0.2:1234", "hola", "¿qué tal?")
	if send.code != 3 {
		t.Errorf("reach send to the tutorial server: exit %d, want 3 (it never answers)\n%s", send.code, send)
	}
	srv.waitOutput(received("hola"))
	srv.waitOutput(received("¿qué tal?"))
}

func TestTutorialServerLooksOpen(t *testing.T) {
	t.Parallel()
	l, srv := mappedTutorialServer(t)
	chk := reach(t, l, lab.Inet, "check", "11.0.0.2:1234", "--json")
	var got struct{ Verdict, Peer, Detail, Cause string }
	decodeJSON(t, chk, &got)
	if chk.code != 3 || got.Verdict != "open" || got.Peer != "silent" {
		t.Errorf("check of the tutorial server: want exit 3, verdict open, peer silent\n%s", chk)
	}
	if !strings.Contains(got.Detail+" "+got.Cause, "only receives") {
		t.Errorf("check does not say that a server which only receives looks like this: detail %q, cause %q", got.Detail, got.Cause)
	}
	// The probe is an ordinary frame: the tutorial's reader decodes it.
	srv.waitOutput(regexp.MustCompile(`(?m)^client \d+: reach-probe/1 [0-9a-f]{32}$`))
}

// tutorialMessage waits for expose's first client message event that is
// not a reach probe.
func tutorialMessage(exp *exposeRun) event {
	exp.t.Helper()
	for {
		ev := exp.waitEvent("client")
		if ev.str("action") == "message" && !strings.HasPrefix(ev.str("message"), "reach-probe/") {
			return ev
		}
	}
}

func TestTutorialClientGetsEcho(t *testing.T) {
	t.Parallel()
	_, client := tutorialPrograms(t)
	l := newLab(t, lab.Options{UPnP: true})
	exp := startExpose(t, l, lab.PC, exposeArgs()...)
	exp.waitEvent("ready")
	out := startProgram(t, l, lab.Inet, client, "11.0.0.2", "1234", "hola", "¿qué tal?").wait()
	for _, m := range []string{"hola", "¿qué tal?"} {
		if !regexp.MustCompile(`(?m)^reply: ` + regexp.QuoteMeta(m) + `$`).MatchString(out) {
			t.Errorf("tutorial client did not print the echo \"reply: %s\":\n%s", m, out)
		}
	}
	if ev := tutorialMessage(exp); ev.str("message") != "hola" || ev.num("bytes") != 4 {
		t.Errorf("expose's client message event = %v, want message \"hola\", bytes 4", ev)
	}
}

func TestTutorialServerBehindExposeNoServe(t *testing.T) {
	t.Parallel()
	server, client := tutorialPrograms(t)
	l := newLab(t, lab.Options{UPnP: true})
	srv := startTutorialServer(t, l, server)
	exp := startExpose(t, l, lab.PC, exposeArgs("--no-serve")...)
	checkReady(t, exp.waitEvent("ready"), "upnp-igd2", false)

	out := startProgram(t, l, lab.Inet, client, "11.0.0.2", "1234", "hola").wait()
	if !regexp.MustCompile(`(?m)^no reply$`).MatchString(out) {
		t.Errorf("tutorial client got a reply from the tutorial server, which never answers:\n%s", out)
	}
	srv.waitOutput(received("hola"))

	if code := exp.interrupt(); code != 0 {
		t.Errorf("expose --no-serve exit code after SIGINT = %d, want 0\n%s", code, exp.output())
	}
	if routerForwards(t, l, 1234) {
		t.Errorf("router still forwards 1234 after expose --no-serve stopped")
	}
}

func TestTutorialClientRetriesUntilExposed(t *testing.T) {
	t.Parallel()
	_, client := tutorialPrograms(t)
	l := newLab(t, lab.Options{UPnP: true})
	cl := startProgram(t, l, lab.Inet, client, "11.0.0.2", "1234", "hola")
	// Two failed attempts (about 2 s): the client is retrying, nothing is
	// mapped yet.
	cl.waitOutput(regexp.MustCompile(`(?m)^connection attempts: 2$`))
	exp := startExpose(t, l, lab.PC, exposeArgs()...)
	exp.waitEvent("ready")
	if out := cl.wait(); !regexp.MustCompile(`(?m)^reply: hola$`).MatchString(out) {
		t.Errorf("tutorial client did not get \"reply: hola\" once expose mapped the port:\n%s", out)
	}
}

// guideClientSends are the bytes the tutorial's own SendPacket
// (testdata/tutorial/GuideClient.cs) sends for each message list: the
// length in characters, then Encoding.Default's bytes (UTF-8 on Mono), or
// a legacy code page's with CODEPAGE set. frame's charlen_test.go holds
// the same bytes as fixtures; this replay proves they are what the
// tutorial's code really sends.
var guideClientSends = []struct {
	codePage string // CODEPAGE for the client; empty: Encoding.Default
	messages []string
	hex      string
}{
	{"", []string{"año", "hola"}, "0300000061c3b16f04000000686f6c61"},
	{"", []string{"¿qué", "tal?", "bien"}, "04000000c2bf7175c3a90400000074616c3f040000006269656e"},
	{"", []string{"привет", "мир"}, "06000000d0bfd180d0b8d0b2d0b5d18203000000d0bcd0b8d180"},
	{"", []string{"你好", "ok"}, "02000000e4bda0e5a5bd020000006f6b"},
	{"", []string{"👍", "x"}, "02000000f09f918d0100000078"},
	{"1252", []string{"año", "Grüße"}, "0300000061f16f050000004772fcdf65"},
	{"437", []string{"año", "Grüße"}, "0300000061a46f05000000477281e165"},
}

// guideClientBytes runs the guide's client against a loopback listener and
// returns every byte it sent.
func guideClientBytes(t *testing.T, exe, codePage string, messages ...string) []byte {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(programTimeout))
		b, _ := io.ReadAll(c)
		got <- b
	}()
	ctx, cancel := context.WithTimeout(context.Background(), programTimeout)
	defer cancel()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	cmd := exec.CommandContext(ctx, "mono", append([]string{exe, "127.0.0.1", port}, messages...)...)
	cmd.Env = append(os.Environ(), "CODEPAGE="+codePage)
	if out, err := cmd.CombinedOutput(); err != nil {
		if strings.Contains(string(out), "could not be found") {
			t.Skipf("mono lacks code page %s: install libmono-i18n-west4.0-cil", codePage)
		}
		t.Fatalf("mono GuideClient.exe %s: %v\n%s", strings.Join(messages, " "), err, out)
	}
	return <-got
}

// The tutorial's client, replayed: its bytes for non-ASCII text are the
// fixtures, frame recognises the char-count length in them, and a payload
// in a legacy code page is named.
func TestGuideClientBytes(t *testing.T) {
	t.Parallel()
	exe := filepath.Join(monoPrograms(t), "GuideClient.exe")
	for _, c := range guideClientSends {
		t.Run(c.codePage+" "+strings.Join(c.messages, " "), func(t *testing.T) {
			got := guideClientBytes(t, exe, c.codePage, c.messages...)
			if hex.EncodeToString(got) != c.hex {
				t.Fatalf("the guide's client sent %x, the fixture is %s", got, c.hex)
			}
			prev, failed := firstFailure(got)
			if c.codePage == "" {
				cl, ok := frame.DetectCharLength(prev, failed)
				if !ok || cl.Text != c.messages[0] {
					t.Errorf("DetectCharLength(% x, % x) = %+v, %v; want the text %q", prev, failed, cl, ok, c.messages[0])
				}
				return
			}
			// A single-byte code page keeps lengths right; the text is what
			// is wrong.
			if failed != nil {
				t.Errorf("a %s client's frames failed to decode at % x", c.codePage, failed)
			}
			r := frame.NewReader(bytes.NewReader(got), frame.DefaultMaxFrame)
			for _, m := range c.messages {
				p, err := r.Next()
				if err != nil {
					t.Fatal(err)
				}
				lt, ok := frame.DetectCodePage(p)
				if want := map[string]string{"1252": "windows-1252", "437": "cp437"}[c.codePage]; !ok || lt.CodePage != want || lt.Text != m {
					t.Errorf("DetectCodePage(% x) = %+v, %v; want %s %q", p, lt, ok, want, m)
				}
			}
		})
	}
}

// firstFailure reads stream as a reach server does: the last frame it
// accepted (header and payload), and the bytes from the first frame it
// refuses or that the stream does not complete (nil if none).
func firstFailure(stream []byte) (prev, failed []byte) {
	off := 0
	for off < len(stream) {
		rest := stream[off:]
		if len(rest) < frame.HeaderSize {
			return prev, rest
		}
		n := int64(binary.LittleEndian.Uint32(rest))
		if n > frame.DefaultMaxFrame || int64(len(rest)) < frame.HeaderSize+n {
			return prev, rest
		}
		prev = rest[:frame.HeaderSize+n]
		off += len(prev)
	}
	return prev, nil
}
