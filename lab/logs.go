package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// logsTimeout bounds collecting the rulesets for Logs.
const logsTimeout = 5 * time.Second

// Logs returns what explains a failed test: miniupnpd's log and lease file,
// the nftables rulesets of the router and the outer NAT, and coturn's log
// (of the daemons the lab runs).
func (l *Lab) Logs() string {
	ctx, cancel := context.WithTimeout(context.Background(), logsTimeout)
	defer cancel()
	var b strings.Builder
	section := func(title, body string) {
		fmt.Fprintf(&b, "----- %s -----\n%s", title, body)
		if !strings.HasSuffix(body, "\n") {
			b.WriteString("\n")
		}
	}
	file := func(name string) string {
		data, err := os.ReadFile(filepath.Join(l.dir, name))
		if err != nil {
			return fmt.Sprintf("(%v)", err)
		}
		return string(data)
	}
	if !l.opts.NoService {
		section("miniupnpd log", file(miniupnpdLogName))
		section("miniupnpd lease file", file("upnp.leases"))
	}
	hosts := []string{Router}
	if up, ok := l.upstream(); ok {
		hosts = append(hosts, up.host)
	}
	for _, h := range hosts {
		out, errOut, _, err := l.Run(ctx, h, "nft", "list", "ruleset")
		if err != nil {
			out = err.Error()
		}
		section("nft list ruleset in "+h, out+errOut)
	}
	if !l.opts.NoSTUN {
		section("coturn log", file(coturnLogName))
	}
	return b.String()
}
