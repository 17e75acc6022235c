package upnp

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Holds right before Add (as a session asks it) spares Add its own
// look-up of the port: the router answers GetSpecificPortMappingEntry once
// before the add, not twice. The answer still decides: this host's other
// program's mapping seen by Holds stops the Add.
func TestAddReusesHoldsLookup(t *testing.T) {
	ctx := context.Background()
	want := Mapping{Protocol: TCP, ExternalPort: 1234, InternalPort: 1234, Description: "reach 1234", Lease: time.Hour}

	f := newFakeIGD(t, "v2")
	igd := openFake(t, f)
	igd.cfg.lookupFresh = time.Hour // however slow the machine, the answer is fresh
	if held, err := igd.Holds(ctx, want); err != nil || held {
		t.Fatalf("Holds on an empty table = %v, %v", held, err)
	}
	if _, err := igd.Add(ctx, want); err != nil {
		t.Fatal(err)
	}
	// One look-up by Holds, one read-back after the add.
	if n := f.calls("GetSpecificPortMappingEntry"); n != 2 {
		t.Errorf("GetSpecificPortMappingEntry asked %d times for Holds and Add, want 2", n)
	}
	// Used once: a second Add (a refresh) looks for itself.
	if _, err := igd.Add(ctx, want); err != nil {
		t.Fatal(err)
	}
	if n := f.calls("GetSpecificPortMappingEntry"); n != 4 {
		t.Errorf("GetSpecificPortMappingEntry asked %d times after a second Add, want 4", n)
	}

	g := newFakeIGD(t, "v2")
	g.addEntry(fakeEntry{proto: "TCP", ext: 1234, intern: 25565, client: "127.0.0.1", desc: "minecraft", lease: 0})
	igd = openFake(t, g)
	igd.cfg.lookupFresh = time.Hour
	if held, err := igd.Holds(ctx, want); err != nil || held {
		t.Fatalf("Holds over another program's mapping = %v, %v; want false", held, err)
	}
	var ce *ConflictError
	if _, err := igd.Add(ctx, want); !errors.As(err, &ce) || ce.Holder.InternalPort != 25565 {
		t.Fatalf("Add after Holds = %v, want a conflict naming the minecraft mapping", err)
	}
	if n := g.calls("AddPortMapping"); n != 0 {
		t.Errorf("AddPortMapping sent %d times over another program's mapping", n)
	}
}

// A Delete between Holds and Add makes Add look again: the table changed.
func TestAddLooksAgainAfterDelete(t *testing.T) {
	ctx := context.Background()
	want := Mapping{Protocol: TCP, ExternalPort: 1234, InternalPort: 1234, Description: "reach 1234", Lease: time.Hour}
	f := newFakeIGD(t, "v2")
	igd := openFake(t, f)
	igd.cfg.lookupFresh = time.Hour
	if _, err := igd.Add(ctx, want); err != nil {
		t.Fatal(err)
	}
	if _, err := igd.Holds(ctx, want); err != nil {
		t.Fatal(err)
	}
	if err := igd.Delete(ctx, want); err != nil {
		t.Fatal(err)
	}
	before := f.calls("GetSpecificPortMappingEntry")
	if _, err := igd.Add(ctx, want); err != nil {
		t.Fatal(err)
	}
	if n := f.calls("GetSpecificPortMappingEntry") - before; n != 2 {
		t.Errorf("Add after Delete asked GetSpecificPortMappingEntry %d times, want 2 (its own look-up and the read-back)", n)
	}
}
