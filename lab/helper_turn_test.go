package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/reach-net/reach/frame"
	"github.com/reach-net/reach/probe"
)

// helperEcho serves on addr until killed: "echo" reach's framed TCP echo,
// "udpecho" its UDP echo, "udpsilent" a UDP socket that reads and never
// answers (a program that does not echo).
func helperEcho(mode, addr string) int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	switch mode {
	case "echo":
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fail(err)
		}
		fmt.Println("listening")
		return fail(frame.NewServer(frame.ServerConfig{}).Serve(ln))
	case "udpecho":
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return fail(err)
		}
		fmt.Println("listening")
		return fail(frame.NewUDPServer(frame.UDPConfig{}).Serve(pc))
	}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fail(err)
	}
	fmt.Println("listening")
	buf := make([]byte, 64<<10)
	for {
		if _, _, err := pc.ReadFrom(buf); err != nil {
			return fail(err)
		}
	}
}

// viaOutcome is what helperVia and helperCheckUDP print, as JSON.
type viaOutcome struct {
	Verdict probe.Verdict
	Failure probe.ViaFailure
	Code    int
	Relay   string // the relay's address toward the target
	Detail  string
	Err     string
}

// helperVia runs probe.CheckVia for "PROTO TURN-ADDRESS TARGET" and prints
// the outcome.
func helperVia(arg string) int {
	f := strings.Fields(arg)
	if len(f) != 3 {
		fmt.Fprintf(os.Stderr, "via: want PROTO TURN TARGET, got %q\n", arg)
		return 2
	}
	srv, err := probe.ParseTURN(f[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	res := probe.CheckVia(context.Background(), srv, netip.MustParseAddrPort(f[2]), f[0], probe.ViaConfig{})
	out := viaOutcome{Verdict: res.Verdict, Failure: res.Failure, Code: res.Code, Detail: res.Detail}
	if res.RelayAddr.IsValid() {
		out.Relay = res.RelayAddr.String()
	}
	if res.Err != nil {
		out.Err = res.Err.Error()
	}
	return printJSON(out)
}

// helperCheckUDP runs probe.CheckUDP against target and prints the outcome.
func helperCheckUDP(target string) int {
	res := probe.CheckUDP(context.Background(), target, probe.CheckConfig{})
	return printJSON(viaOutcome{Verdict: res.Verdict, Detail: res.Detail})
}

func printJSON(v any) int {
	if err := json.NewEncoder(os.Stdout).Encode(v); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
