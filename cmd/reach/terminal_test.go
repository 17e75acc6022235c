package main

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/reach-net/reach/expose"
	"github.com/reach-net/reach/probe"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestTerminalCaps(t *testing.T) {
	cases := []struct {
		name           string
		outTTY, errTTY bool
		env            map[string]string
		want           termCaps
	}{
		{"both terminals", true, true, map[string]string{"TERM": "xterm-256color"}, termCaps{spinner: true, colorErr: true, colorOut: true}},
		{"stdout piped", false, true, nil, termCaps{spinner: true, colorErr: true}},
		{"stderr to a file", true, false, nil, termCaps{colorOut: true}},
		{"no terminal", false, false, nil, termCaps{}},
		{"NO_COLOR", true, true, map[string]string{"NO_COLOR": "1"}, termCaps{spinner: true}},
		{"NO_COLOR empty is unset", true, true, map[string]string{"NO_COLOR": ""}, termCaps{spinner: true, colorErr: true, colorOut: true}},
		{"TERM=dumb", true, true, map[string]string{"TERM": "dumb"}, termCaps{}},
	}
	for _, c := range cases {
		if got := terminalCaps(c.outTTY, c.errTTY, env(c.env)); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}

var sgr = regexp.MustCompile("\033\\[[0-9;]*m")

func TestMarksAndVerdictColouredOnlyWhenAsked(t *testing.T) {
	for _, color := range []bool{false, true} {
		var out, errOut bytes.Buffer
		ios := &IOStreams{Out: &out, ErrOut: &errOut, Color: color, ColorOut: color}
		st := newSteps(ios, false)
		st.done(markOK, "gateway", "192.168.1.1")
		st.done(markWarn, "verify", "router does not loop back")
		st.done(markFail, "mapping", "refused")
		ios.verdict(markFail, "refused: 203.0.113.7:1234")
		if got := sgr.MatchString(out.String() + errOut.String()); got != color {
			t.Errorf("colour %v: escape sequences present = %v:\n%q\n%q", color, got, errOut.String(), out.String())
		}
		if color {
			for _, want := range []string{sgrGreen + "ok  " + sgrReset, sgrYellow + "warn" + sgrReset, sgrRed + "fail" + sgrReset} {
				if !strings.Contains(errOut.String(), want) {
					t.Errorf("marks lack %q: %q", want, errOut.String())
				}
			}
			if !strings.HasPrefix(out.String(), sgrRed) {
				t.Errorf("verdict line not red: %q", out.String())
			}
		}
		// The columns line up with or without colour.
		if plain := sgr.ReplaceAllString(errOut.String(), ""); !strings.Contains(plain, "  ok   gateway    192.168.1.1\n") {
			t.Errorf("step line misaligned: %q", plain)
		}
	}
}

// A line printed while the spinner runs (a client connecting during a
// step) starts on a cleared line, never after the spinner's text.
func TestSpinnerClearedBeforeAnyLine(t *testing.T) {
	out := &syncBuffer{}
	ios := &IOStreams{Out: out, ErrOut: out, IsTerminal: true}
	st := newSteps(ios, false)
	st.start("probing 11.0.0.2:1234 through the router")
	waitFor(t, func() bool { return strings.Contains(out.String(), "probing") }, "the spinner drawn")
	ios.printf("client 1 11.0.0.1:50412 connected\n")
	ios.result("a result")
	ios.writeJSON(map[string]int{"n": 1})
	waitFor(t, func() bool {
		got := out.String()
		return strings.Contains(got[strings.Index(got, "a result\n"):], "probing")
	}, "the spinner drawn again below the lines")
	st.done(markOK, "verify", "echoed")
	st.line("done")
	got := out.String()
	for _, l := range []string{"client 1 11.0.0.1:50412 connected\n", "a result\n", `{"n":1}` + "\n", "  ok   verify     echoed\n", "done\n"} {
		i := strings.Index(got, l)
		if i < 0 {
			t.Fatalf("output lacks %q: %q", l, got)
		}
		if before := got[:i]; !strings.HasSuffix(before, "\r\033[K") && !strings.HasSuffix(before, "\n") {
			t.Errorf("%q printed after the spinner's text: %q", l, got)
		}
	}
	if !strings.Contains(got, "probing 11.0.0.2:1234 through the router...") {
		t.Errorf("no spinner: %q", got)
	}
	// The spinner came back under the client line (the step was still
	// under way), and is gone after the step.
	i := strings.Index(got, "a result\n")
	if !strings.Contains(got[i:], "probing") {
		t.Errorf("spinner did not redraw below the client line: %q", got)
	}
	if j := strings.LastIndex(got, "done\n"); strings.Contains(got[j:], "probing") {
		t.Errorf("spinner drawn after the step ended: %q", got)
	}
}

// A silence after a step longer than idleSpinnerDelay shows a spinner
// (STUN may take seconds); the next line ends it for good.
func TestSilenceAfterAStepSpins(t *testing.T) {
	out := &syncBuffer{}
	ios := &IOStreams{Out: out, ErrOut: out, IsTerminal: true}
	st := newSteps(ios, false)
	st.done(markOK, "gateway", "192.168.1.1")
	waitFor(t, func() bool { return strings.Contains(out.String(), "working...") }, "a spinner in the silence after a step")
	ios.printf("hosting\n")
	n := len(out.String())
	time.Sleep(3 * spinnerPeriod)
	if rest := out.String()[n:]; rest != "" {
		t.Errorf("idle spinner drawn again after a line: %q", rest)
	}
	ios.stopSpinner()
}

func TestNoSpinnerOffATerminal(t *testing.T) {
	var out bytes.Buffer
	ios := &IOStreams{Out: &out, ErrOut: &out}
	st := newSteps(ios, false)
	st.start("finding the gateway")
	time.Sleep(2 * spinnerPeriod)
	st.done(markOK, "gateway", "192.168.1.1")
	time.Sleep(idleSpinnerDelay + spinnerPeriod)
	if strings.ContainsAny(out.String(), "\r\033") {
		t.Errorf("escape sequences off a terminal: %q", out.String())
	}
}

func TestLinesFitTheWidth(t *testing.T) {
	var out bytes.Buffer
	ios := &IOStreams{Out: &out, ErrOut: &out, Width: maxWidth}
	long := "the router answered SSDP from 192.168.1.1 but its control URL http://192.168.1.1:5000/ctl/IPConn refused the AddPortMapping action with UPnP error 718 (ConflictInEntry)"
	newSteps(ios, false).step(&expose.Step{Name: "mapping", Mark: expose.MarkFail, Detail: long, Notes: []string{long}})
	ios.diagnosis(probe.Diagnosis{Causes: []string{long}, Advice: []string{long, long}})
	for _, l := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		if n := len([]rune(l)); n > maxWidth {
			t.Errorf("line of %d columns: %q", n, l)
		}
	}
	if !strings.Contains(out.String(), "\n                  ") {
		t.Errorf("wrapped evidence is not indented under the first line:\n%s", out.String())
	}
	// Off a terminal (no width) each fact stays on one line, for grep.
	out.Reset()
	(&IOStreams{Out: &out, ErrOut: &out}).diagnosis(probe.Diagnosis{Advice: []string{long}})
	if strings.Count(out.String(), "\n") != 1 {
		t.Errorf("advice wrapped off a terminal: %q", out.String())
	}
}

func TestVersionFromBuildInfo(t *testing.T) {
	toolchain := runtime.Version()
	platform := runtime.GOOS + "/" + runtime.GOARCH
	stamped := func(mainVersion string, settings ...string) *debug.BuildInfo {
		info := &debug.BuildInfo{Main: debug.Module{Path: "github.com/reach-net/reach", Version: mainVersion}}
		for i := 0; i+1 < len(settings); i += 2 {
			info.Settings = append(info.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return info
	}
	const rev, when = "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b", "2025-11-30T10:00:00Z"
	for _, tc := range []struct {
		name    string
		ldflags string // -X main.version; empty: not set ("dev")
		info    *debug.BuildInfo
		ok      bool
		want    buildVersion
		line    string
	}{
		{name: "no build info", ok: false,
			want: buildVersion{Version: "dev"}, line: "dev (" + toolchain + " " + platform + ")"},
		{name: "go install of a tagged module", info: stamped("v1.2.0"), ok: true,
			want: buildVersion{Version: "v1.2.0"}, line: "v1.2.0 (" + toolchain + " " + platform + ")"},
		{name: "go build in a clean clone", ok: true,
			info: stamped("(devel)", "vcs", "git", "vcs.revision", rev, "vcs.time", when, "vcs.modified", "false"),
			want: buildVersion{Version: "dev", Revision: rev, Time: when},
			line: "dev (rev 1a2b3c4d5e6f, " + when + "; " + toolchain + " " + platform + ")"},
		{name: "go build with uncommitted changes", ok: true,
			info: stamped("v1.2.1-0.20251130100000-1a2b3c4d5e6f+dirty", "vcs.revision", rev, "vcs.time", when, "vcs.modified", "true"),
			want: buildVersion{Version: "v1.2.1-0.20251130100000-1a2b3c4d5e6f+dirty", Revision: rev, Time: when, Modified: true},
			line: "v1.2.1-0.20251130100000-1a2b3c4d5e6f+dirty (rev 1a2b3c4d5e6f, " + when + ", modified; " + toolchain + " " + platform + ")"},
		{name: "-ldflags version wins over the module's", ldflags: "v2.0.0", ok: true,
			info: stamped("v1.2.0", "vcs.revision", "abc123", "vcs.modified", "true"),
			want: buildVersion{Version: "v2.0.0", Revision: "abc123", Modified: true},
			line: "v2.0.0 (rev abc123, modified; " + toolchain + " " + platform + ")"},
		{name: "build info said absent", ok: false, info: stamped("v1.2.0", "vcs.revision", rev),
			want: buildVersion{Version: "dev"}, line: "dev (" + toolchain + " " + platform + ")"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.ldflags != "" {
				saved := version
				version = tc.ldflags
				t.Cleanup(func() { version = saved })
			}
			tc.want.Go, tc.want.Platform = toolchain, platform
			got := readVersion(tc.info, tc.ok)
			if got != tc.want {
				t.Errorf("readVersion = %+v\nwant %+v", got, tc.want)
			}
			if got.String() != tc.line {
				t.Errorf("line %q\nwant %q", got.String(), tc.line)
			}
		})
	}
	// The command prints this binary's own reading, the same for both
	// spellings.
	want := "reach version " + currentVersion().String() + "\n"
	r := runCLI(context.Background(), offlineDeps(t), "version")
	if r.code != 0 || r.out.String() != want {
		t.Errorf("reach version: exit %d, %q; want %q", r.code, r.out, want)
	}
	if r2 := runCLI(context.Background(), offlineDeps(t), "--version"); r2.out.String() != want {
		t.Errorf("reach --version: %q; want %q", r2.out, want)
	}
}

func TestVersionString(t *testing.T) {
	v := buildVersion{Version: "v1.2.0", Revision: "1a2b3c4d5e6f7a8b9c0d", Time: "2025-11-30T10:00:00Z", Modified: true, Go: "go1.24.1", Platform: "linux/amd64"}
	if got, want := v.String(), "v1.2.0 (rev 1a2b3c4d5e6f, 2025-11-30T10:00:00Z, modified; go1.24.1 linux/amd64)"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}

func TestGatewayOffTheLocalSubnetsRefused(t *testing.T) {
	saved := localPrefixes
	defer func() { localPrefixes = saved }()
	localPrefixes = func() ([]netip.Prefix, error) {
		return []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8"), netip.MustParsePrefix("192.168.1.10/24"), netip.MustParsePrefix("2001:db8::10/64")}, nil
	}
	if a, err := parseGateway("192.168.1.1"); err != nil || a != netip.MustParseAddr("192.168.1.1") {
		t.Errorf("gateway on the LAN: %v, %v", a, err)
	}
	for gw, want := range map[string]string{
		"10.0.0.1":     "is not on a local subnet (this host has 192.168.1.10/24)",
		"192.168.1.10": "is this host's own address",
	} {
		_, err := parseGateway(gw)
		if err == nil || exitCode(err) != exitUsage || !strings.Contains(err.Error(), want) {
			t.Errorf("--gateway %s: %v, want a usage error saying %q", gw, err, want)
		}
	}
	localPrefixes = func() ([]netip.Prefix, error) { return nil, errors.New("no interfaces") }
	if _, err := parseGateway("10.0.0.1"); err != nil {
		t.Errorf("refused although the subnets are unknown: %v", err)
	}
}
