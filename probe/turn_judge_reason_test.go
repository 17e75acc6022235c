package probe

import (
	"testing"

	"github.com/pion/stun/v3"
)

// A reason phrase padded with NULs (coturn's 447) reaches the user without
// them; an empty or all-control phrase gives the standard one.
func TestCodeTextDropsControlBytes(t *testing.T) {
	for _, tc := range []struct {
		reason string
		want   string
	}{
		{"Connection Timeout or Failure\x00\x00\x00", "447 Connection Timeout or Failure"},
		{"\x00\x00", "403 Forbidden"},
		{"", "403 Forbidden"},
	} {
		code := stun.CodeForbidden
		if tc.want[:3] == "447" {
			code = 447
		}
		if got := codeText(stun.ErrorCodeAttribute{Code: code, Reason: []byte(tc.reason)}); got != tc.want {
			t.Errorf("codeText(%d, %q) = %q, want %q", code, tc.reason, got, tc.want)
		}
	}
}
