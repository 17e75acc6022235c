package upnp_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reach-net/reach/lab"
	"github.com/reach-net/reach/upnp"
)

// Router quirks the real miniupnpd can show (see docs/ROUTERS.md): a
// reboot that loses the mapping table (ASUS clears its table on its own;
// most routers lose it on a power cut).

// restartReady is the line the restart helper prints once it holds its
// mapping; it then waits for a line on stdin before it renews.
const restartReady = "mapped"

// runRestartHelper maps port through a Lease, waits for the router to be
// restarted, renews, releases, and prints the report.
func runRestartHelper(ctx context.Context, cfg upnp.Config, port int) int {
	rep := labReport{Errors: map[string]string{}}
	fail := func(step string, err error) int {
		rep.Step, rep.Err = step, err.Error()
		json.NewEncoder(os.Stdout).Encode(rep)
		return 1
	}
	r, err := upnp.FindRouter(ctx, cfg)
	if err != nil {
		return fail("find router", err)
	}
	l, err := upnp.Map(ctx, r, upnp.MapRequest{Mapping: upnp.Mapping{Protocol: upnp.TCP, InternalPort: uint16(port), Lease: time.Hour}, Family: upnp.FamilyUPnP})
	if err != nil {
		return fail("map", err)
	}
	got := l.Mapping()
	rep.Granted = &got
	fmt.Println(restartReady)
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return fail("wait for the restart", err)
	}
	rn, err := l.Renew(ctx)
	if err != nil {
		return fail("renew", err)
	}
	rep.LeaseRenew = string(rn.How)
	lister := l.Router().Services[0].(upnp.Lister)
	if rep.Mappings, err = lister.Mappings(ctx); err != nil {
		return fail("mappings", err)
	}
	if err := l.Release(ctx); err != nil {
		return fail("release", err)
	}
	list, err := lister.Mappings(ctx)
	rep.LeaseReleased = err == nil
	for _, m := range list {
		rep.LeaseReleased = rep.LeaseReleased && m.ExternalPort != got.ExternalPort
	}
	json.NewEncoder(os.Stdout).Encode(rep)
	return 0
}

// A router restarted with an empty table: the renewal notices (the entry
// is gone), re-creates the mapping and says so; one that restores its
// table from its lease file is simply renewed.
func TestLabRestartLosesTable(t *testing.T) {
	for _, tt := range []struct {
		name       string
		keepLeases bool
		want       upnp.RenewHow
	}{
		{"table lost", false, upnp.ReCreated},
		{"table restored", true, upnp.Renewed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := lab.New(t, lab.Options{UPnP: true})
			const port = 4300
			exe, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 2*labTimeout)
			defer cancel()
			cmd := l.Command(ctx, lab.PC, exe, "-test.run=^$", strconv.Itoa(port))
			cmd.Env = append(os.Environ(), labHelper+"=restart")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			out := bufio.NewReader(stdout)
			line, err := out.ReadString('\n')
			if strings.TrimSpace(line) != restartReady {
				rest, _ := out.ReadString(0)
				cmd.Wait()
				t.Fatalf("helper: %q %v\n%s\nstderr: %s", line, err, rest, stderr.String())
			}
			if err := l.RestartRouter(ctx, tt.keepLeases); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(stdin)
			var rep labReport
			decErr := json.NewDecoder(out).Decode(&rep)
			runErr := cmd.Wait()
			if decErr != nil || rep.Err != "" || runErr != nil {
				t.Fatalf("helper failed at %s: %s (decode %v, exit %v)\nstderr: %s", rep.Step, rep.Err, decErr, runErr, stderr.String())
			}
			if rep.LeaseRenew != string(tt.want) {
				t.Errorf("renewal after the restart: %q, want %q", rep.LeaseRenew, tt.want)
			}
			held := false
			for _, m := range rep.Mappings {
				held = held || (m.ExternalPort == port && m.InternalIP.String() == lab.PCAddr && m.InternalPort == port)
			}
			if !held || !rep.LeaseReleased {
				t.Errorf("after the renewal the router lists %+v (ours there: %v); released: %v", rep.Mappings, held, rep.LeaseReleased)
			}
			t.Logf("helper log:\n%s", stderr.String())
		})
	}
}
