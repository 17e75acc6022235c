package upnp

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// A mapping made by one process (reach map) is deleted by the next (reach
// unmap) with the creator's nonce, read back from the cache directory.
func TestPCPNonceOutlivesTheProcess(t *testing.T) {
	f := newFakeGateway(t, pcpRouter)
	cfg := Config{NATPMPPort: f.port, CacheDir: t.TempDir()}
	m := Mapping{Protocol: TCP, ExternalPort: 1234, InternalPort: 1234, Lease: time.Hour}
	got, err := NewPCP(cfg, loopback, loopback).Add(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	later := NewPCP(cfg, loopback, loopback)
	if err := later.Delete(t.Context(), got); err != nil {
		t.Fatalf("delete from a new client: %v", err)
	}
	reqs := f.requests()
	if len(reqs) != 2 || !bytes.Equal(reqs[0][24:36], reqs[1][24:36]) {
		t.Fatalf("the delete did not reuse the creator's nonce: %x", reqs)
	}
	// Deleted mappings are forgotten: a third client has no nonce to send.
	if err := NewPCP(cfg, loopback, loopback).Delete(t.Context(), got); !errors.Is(err, ErrPCPUnknownNonce) {
		t.Errorf("delete after delete: %v, want ErrPCPUnknownNonce", err)
	}
	// Another cache directory (another user, another machine) knows nothing.
	other := Config{NATPMPPort: f.port, CacheDir: t.TempDir()}
	if _, err := NewPCP(other, loopback, loopback).Add(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	if err := NewPCP(Config{NATPMPPort: f.port, CacheDir: t.TempDir()}, loopback, loopback).Delete(t.Context(), got); !errors.Is(err, ErrPCPUnknownNonce) {
		t.Errorf("delete with an empty cache: %v, want ErrPCPUnknownNonce", err)
	}
}
