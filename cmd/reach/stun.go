package main

import (
	"net"
	"strings"

	"github.com/reach-net/reach/probe"
	"github.com/spf13/cobra"
)

// defaultSTUNPort is STUN's registered port.
const defaultSTUNPort = "3478"

func addSTUNFlag(cmd *cobra.Command, servers *[]string) {
	cmd.Flags().StringArrayVar(servers, "stun", nil, "STUN server HOST[:PORT] to learn the public address (repeatable; \"off\" to skip; default: a few well-known public servers)")
}

// stunServers turns --stun into the list to ask; nil means off.
func stunServers(flag []string) ([]string, error) {
	if len(flag) == 0 {
		return probe.DefaultSTUNServers, nil
	}
	var out []string
	for _, s := range flag {
		if strings.EqualFold(s, "off") {
			if len(flag) > 1 {
				return nil, usageErrorf("--stun off cannot be combined with servers")
			}
			return nil, nil
		}
		if _, _, err := net.SplitHostPort(s); err != nil {
			s = net.JoinHostPort(s, defaultSTUNPort)
		}
		host, port, err := net.SplitHostPort(s)
		if err != nil || host == "" {
			return nil, usageErrorf("--stun must be HOST[:PORT], got %q", s)
		}
		if _, err := parsePort("--stun port", port); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}
