package probe

import (
	"bytes"
	"regexp"
	"testing"
)

func TestNewProbe(t *testing.T) {
	a, b := NewProbe(), NewProbe()
	format := regexp.MustCompile(`^reach-probe/1 [0-9a-f]{32}$`)
	if !format.Match(a) {
		t.Fatalf("probe %q does not match %s", a, format)
	}
	if bytes.Equal(a, b) {
		t.Fatalf("two probes are the same: %q", a)
	}
	if !IsProbe(a) || IsProbe([]byte("reach-probe/1 xyz")) || IsProbe([]byte("hola")) {
		t.Fatal("IsProbe does not tell probes from other payloads")
	}
}

func TestIsProbeEcho(t *testing.T) {
	p := NewProbe()
	flipped := bytes.Clone(p)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name      string
		sent, got []byte
		want      bool
	}{
		{"echo", p, bytes.Clone(p), true},
		{"other probe", p, NewProbe(), false},
		{"one bit off", p, flipped, false},
		{"truncated", p, p[:len(p)-1], false},
		{"empty reply", p, nil, false},
		{"not a probe, echoed", []byte("hola"), []byte("hola"), false},
		{"nothing sent", nil, nil, false},
	}
	for _, tc := range tests {
		if got := IsProbeEcho(tc.sent, tc.got); got != tc.want {
			t.Errorf("%s: IsProbeEcho = %v, want %v", tc.name, got, tc.want)
		}
	}
}
