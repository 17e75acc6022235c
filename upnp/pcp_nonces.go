package upnp

import (
	"encoding/hex"
	"fmt"
	"net/netip"
)

// pcpNonceFile keeps the nonce of each PCP mapping this host made, so that a
// later process (reach unmap after reach map) can renew or delete it: PCP
// lets only the holder of a mapping's nonce touch it (RFC 6887 11.1).
const pcpNonceFile = "pcp-nonces.json"

// pcpNonces is the on-disk memory of PCP nonces, in the cache directory
// beside the remembered IGD descriptions ("off" disables both).
type pcpNonces struct{ file descriptionCache }

func newPCPNonces(cfg Config) pcpNonces {
	c := newDescriptionCache(cfg)
	c.name = pcpNonceFile
	return pcpNonces{file: c}
}

// nonceKey names one mapping: the gateway, this host's address, protocol
// and internal port (PCP's own identity of a mapping).
func nonceKey(gw netip.AddrPort, local netip.Addr, k pcpKey) string {
	return fmt.Sprintf("%s %s %d/%d", gw, local, k.proto, k.port)
}

// load returns the remembered nonce for key, if any.
func (n pcpNonces) load(key string) (nonce [pcpNonceLen]byte, ok bool) {
	if n.file.dir == "" {
		return nonce, false
	}
	cacheMu.Lock()
	s := n.file.read().Locations[key]
	cacheMu.Unlock()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != pcpNonceLen {
		return nonce, false
	}
	copy(nonce[:], b)
	return nonce, true
}

// store remembers nonce for key.
func (n pcpNonces) store(key string, nonce [pcpNonceLen]byte) {
	v := hex.EncodeToString(nonce[:])
	n.file.update(func(m map[string]string) bool {
		if m[key] == v {
			return false
		}
		if _, ok := m[key]; !ok && len(m) >= maxCacheEntries {
			for k := range m { // forget an arbitrary entry to make room
				delete(m, k)
				break
			}
		}
		m[key] = v
		return true
	})
}

// forget drops key after its mapping was deleted.
func (n pcpNonces) forget(key string) {
	n.file.update(func(m map[string]string) bool {
		if _, ok := m[key]; !ok {
			return false
		}
		delete(m, key)
		return true
	})
}
