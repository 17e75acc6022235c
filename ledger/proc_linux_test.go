package ledger

import "testing"

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		line string
		want uint64
		ok   bool
	}{
		{"4242 (reach) S 1 4242 4242 0 -1 4194560 545 0 0 0 1 2 0 0 20 0 6 0 987654 1234 5 18446744073709551615", 987654, true},
		{"77 (a (weird) name) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 555 0", 555, true},
		{"garbage", 0, false},
		{"1 (x) S 1 2", 0, false},
	} {
		got, ok := parseStat(tc.line)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseStat(%q) = %d, %v; want %d, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}
