package main

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/reach-net/reach/ledger"
	"github.com/reach-net/reach/upnp"
)

// interruptAfterAdd is a router on which Ctrl-C comes right after it made
// the mapping: the moment between the router's lease and map's result.
type interruptAfterAdd struct {
	tableLister
	ctrlC context.CancelFunc
}

func (m interruptAfterAdd) Add(ctx context.Context, want upnp.Mapping) (upnp.Mapping, error) {
	got, err := m.tableLister.Add(ctx, want)
	m.ctrlC()
	return got, err
}

// interruptWhileAsked is a router on which Ctrl-C comes while map waits
// for its external address, once the mapping is made.
type interruptWhileAsked struct {
	tableLister
	ctrlC context.CancelFunc
	added chan struct{} // closed by the first Add
}

func (m interruptWhileAsked) Add(ctx context.Context, want upnp.Mapping) (upnp.Mapping, error) {
	got, err := m.tableLister.Add(ctx, want)
	close(m.added)
	return got, err
}

func (m interruptWhileAsked) ExternalAddr(ctx context.Context) (netip.Addr, error) {
	<-m.added
	m.ctrlC()
	<-ctx.Done()
	return netip.Addr{}, ctx.Err()
}

// pmpRouter is a NAT-PMP router: it cannot list its mappings, nor say
// whether it holds one.
type pmpRouter struct{ interruptAfterAdd }

func (pmpRouter) Method() upnp.Method { return upnp.MethodNATPMP }

// Mappings and Holds hide tableLister's: a NAT-PMP router has neither.
func (pmpRouter) Mappings() {}
func (pmpRouter) Holds()    {}

// noDelete is a router that will not remove a mapping.
type noDelete struct{ interruptAfterAdd }

func (noDelete) Delete(context.Context, upnp.Mapping) error {
	return errors.New("upnp: connection refused")
}

// Ctrl-C after the router made the mapping but before map finished: map
// removes the mapping it made and forgets it, says so, gives no result
// and exits 130.
func TestMapInterruptedRemovesTheMappingItMade(t *testing.T) {
	for _, tc := range []struct {
		name   string
		router func(*fakeMapper, context.CancelFunc) upnp.Mapper
	}{
		{"after the router made it", func(m *fakeMapper, c context.CancelFunc) upnp.Mapper {
			return interruptAfterAdd{tableLister{m}, c}
		}},
		{"while asking the external address", func(m *fakeMapper, c context.CancelFunc) upnp.Mapper {
			return interruptWhileAsked{tableLister{m}, c, make(chan struct{})}
		}},
		{"nat-pmp", func(m *fakeMapper, c context.CancelFunc) upnp.Mapper {
			return pmpRouter{interruptAfterAdd{tableLister{m}, c}}
		}},
	} {
		for _, jsonMode := range []bool{false, true} {
			name := tc.name
			if jsonMode {
				name += " --json"
			}
			t.Run(name, func(t *testing.T) {
				m := newFakeMapper("11.0.0.2")
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				d := fakeDeps(tc.router(m, cancel), false)
				d.Ledger = ledger.Open(t.TempDir())
				args := []string{"map", "--port", "1234"}
				if jsonMode {
					args = append(args, "--json")
				}
				r := runCLI(ctx, d, args...)
				if r.code != exitInterrupted {
					t.Errorf("exit %d, want 130\nstdout %s\nstderr %s", r.code, r.out, r.err)
				}
				if m.has(1234) {
					t.Error("the mapping map made is still on the router")
				}
				if entries, _, _ := d.Ledger.List(context.Background()); len(entries) != 0 {
					t.Errorf("the ledger still lists %+v", entries)
				}
				out, errOut := r.out.String(), r.err.String()
				if strings.Contains(out, "11.0.0.2:1234") || strings.Contains(errOut, "remove it with") {
					t.Errorf("an interrupted map printed a result:\nstdout %s\nstderr %s", out, errOut)
				}
				if !strings.Contains(errOut, "reach: interrupted") {
					t.Errorf("stderr does not say interrupted:\n%s", errOut)
				}
				if !jsonMode {
					if !strings.Contains(errOut, "interrupted: removed the mapping of port 1234/tcp it had made") {
						t.Errorf("stderr does not say the mapping was removed:\n%s", errOut)
					}
					return
				}
				stopped := lastEvent(t, out, "stopped")
				if stopped["mapped"] != true || stopped["mapping_deleted"] != true || stopped["mapping_kept"] != false {
					t.Errorf("stopped = %v, want the mapping deleted", stopped)
				}
				if !strings.Contains(out, `{"error":"interrupted","exit":130}`) {
					t.Errorf("stdout lacks the interrupted error:\n%s", out)
				}
			})
		}
	}
}

// A mapping that was there before map started stays after Ctrl-C, whether
// the router says so (UPnP) or only the ledger knows it (NAT-PMP: an
// earlier reach map made it and its lease still runs). The ledger keeps
// it as this map's, so that reach unmap finds and forgets it.
func TestMapInterruptedKeepsAMappingItFound(t *testing.T) {
	mine := upnp.Mapping{Protocol: upnp.TCP, ExternalPort: 1234, InternalIP: netip.MustParseAddr("127.0.0.1"), InternalPort: 1234, Lease: time.Hour}
	for _, tc := range []struct {
		name     string
		router   func(*fakeMapper, context.CancelFunc) upnp.Mapper
		recorded bool
	}{
		{"upnp", func(m *fakeMapper, c context.CancelFunc) upnp.Mapper { return interruptAfterAdd{tableLister{m}, c} }, false},
		{"nat-pmp", func(m *fakeMapper, c context.CancelFunc) upnp.Mapper {
			return pmpRouter{interruptAfterAdd{tableLister{m}, c}}
		}, true},
	} {
		inBothModes(t, tc.name, func(t *testing.T, jsonMode bool, args []string) {
			m := newFakeMapper("11.0.0.2")
			m.Add(context.Background(), mine)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			d := fakeDeps(tc.router(m, cancel), false)
			d.Ledger = ledger.Open(t.TempDir())
			if tc.recorded {
				d.Ledger.Add(context.Background(), ledger.Entry{Gateway: netip.MustParseAddr("192.168.1.1"), Protocol: "tcp", ExternalPort: 1234,
					InternalIP: mine.InternalIP, InternalPort: 1234, Method: "nat-pmp", Lease: time.Hour, Command: "map", PID: 1 << 30, Created: time.Now()}) // an exited reach map
			}
			r := runCLI(ctx, d, args...)
			if r.code != exitInterrupted {
				t.Errorf("exit %d, want 130\n%s", r.code, r.err)
			}
			if !m.has(1234) {
				t.Error("map removed a mapping that was there before it started")
			}
			if entries, _, _ := d.Ledger.List(context.Background()); len(entries) != 1 || entries[0].ExternalPort != 1234 || entries[0].Command != "map" {
				t.Errorf("ledger = %+v, want the kept mapping as reach map's", entries)
			}
			const kept = "kept the mapping of port 1234/tcp: the router held it before reach map started"
			if !jsonMode {
				if !strings.Contains(r.err.String(), "interrupted: "+kept) {
					t.Errorf("stderr does not say the mapping was kept:\n%s", r.err)
				}
				return
			}
			stopped := lastEvent(t, r.out.String(), "stopped")
			if stopped["mapped"] != true || stopped["mapping_deleted"] != false || stopped["mapping_kept"] != true || stopped["detail"] != kept {
				t.Errorf("stopped = %v, want the mapping kept", stopped)
			}
			if !strings.Contains(r.out.String(), `{"error":"interrupted","exit":130}`) {
				t.Errorf("stdout lacks the interrupted error:\n%s", r.out)
			}
		})
	}
}

// A mapping map cannot remove after Ctrl-C is named, with the command
// that removes it, and stays in the ledger.
func TestMapInterruptedSaysWhatItCouldNotRemove(t *testing.T) {
	m := newFakeMapper("11.0.0.2")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := fakeDeps(noDelete{interruptAfterAdd{tableLister{m}, cancel}}, false)
	d.Ledger = ledger.Open(t.TempDir())
	r := runCLI(ctx, d, "map", "--port", "1234")
	if r.code != exitInterrupted {
		t.Errorf("exit %d, want 130\n%s", r.code, r.err)
	}
	if want := "interrupted: could not remove the mapping of port 1234/tcp it had made"; !strings.Contains(r.err.String(), want) ||
		!strings.Contains(r.err.String(), "remove it with: reach unmap --port 1234 --proto tcp") {
		t.Errorf("stderr does not say what is left and how to remove it:\n%s", r.err)
	}
	if entries, _, _ := d.Ledger.List(context.Background()); len(entries) != 1 || entries[0].ExternalPort != 1234 || entries[0].Command != "map" {
		t.Errorf("ledger = %+v, want the mapping left on the router", entries)
	}
}

// inBothModes runs test as name with the arguments of reach map --port
// 1234, then as "name --json" with --json added.
func inBothModes(t *testing.T, name string, test func(t *testing.T, jsonMode bool, args []string)) {
	for _, jsonMode := range []bool{false, true} {
		n, args := name, []string{"map", "--port", "1234"}
		if jsonMode {
			n, args = n+" --json", append(args, "--json")
		}
		t.Run(n, func(t *testing.T) { test(t, jsonMode, args) })
	}
}
