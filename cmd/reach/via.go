package main

import (
	"os"
	"strings"

	"github.com/reach-net/reach/probe"
	"github.com/spf13/cobra"
)

// turnEnv holds TURN relays when --via is not given, separated by spaces
// or commas.
const turnEnv = "REACH_TURN"

func addViaFlag(cmd *cobra.Command, via *[]string) {
	cmd.Flags().StringArrayVar(via, "via", nil, "TURN relay turn:USER:PASS@HOST:PORT that probes from outside your network (repeatable; default: $"+turnEnv+")")
}

// viaServers parses --via, or $REACH_TURN when --via is not given.
func viaServers(flag []string) ([]probe.TURNServer, error) {
	if len(flag) == 0 {
		flag = strings.FieldsFunc(os.Getenv(turnEnv), func(r rune) bool { return r == ',' || r == ' ' })
	}
	var out []probe.TURNServer
	for _, s := range flag {
		srv, err := probe.ParseTURN(s)
		if err != nil {
			return nil, usageErrorf("--via: %v", err)
		}
		out = append(out, srv)
	}
	return out, nil
}

func addIPv6Flag(cmd *cobra.Command, mode *string) {
	cmd.Flags().StringVar(mode, "ipv6", "auto", "IPv6 pinhole: auto (where this host has a global IPv6 address), off, or only (no IPv4 mapping)")
}

func checkIPv6Mode(mode string) error {
	switch mode {
	case "auto", "off", "only":
		return nil
	}
	return usageErrorf("--ipv6 must be auto, off or only, got %q", mode)
}
