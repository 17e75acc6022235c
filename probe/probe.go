package probe

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
)

// ProbePrefix starts every probe payload; the version lets a future reach
// change the probe without old servers mistaking it.
const ProbePrefix = "reach-probe/1 "

// nonceSize is the random part of a probe: 16 bytes, so that no stale or
// replayed reply can pass for the echo of this one.
const nonceSize = 16

// NewProbe returns a fresh probe payload: "reach-probe/1 " and 16 random
// bytes in hex. A reach server's echo of it proves the peer is a reach server.
func NewProbe() []byte {
	var nonce [nonceSize]byte
	rand.Read(nonce[:]) // never fails; crypto/rand panics if the OS cannot give randomness
	p := make([]byte, len(ProbePrefix)+hex.EncodedLen(nonceSize))
	copy(p, ProbePrefix)
	hex.Encode(p[len(ProbePrefix):], nonce[:])
	return p
}

// IsProbe reports whether payload looks like a probe from NewProbe.
func IsProbe(payload []byte) bool {
	if len(payload) != len(ProbePrefix)+hex.EncodedLen(nonceSize) || !bytes.HasPrefix(payload, []byte(ProbePrefix)) {
		return false
	}
	_, err := hex.Decode(make([]byte, nonceSize), payload[len(ProbePrefix):])
	return err == nil
}

// IsProbeEcho reports whether got is the echo of the probe sent.
func IsProbeEcho(sent, got []byte) bool {
	return IsProbe(sent) && bytes.Equal(sent, got)
}
