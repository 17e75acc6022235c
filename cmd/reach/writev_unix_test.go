//go:build linux || darwin

package main

import (
	"slices"
	"testing"
)

func TestAdvance(t *testing.T) {
	for _, c := range []struct {
		n    int
		want []string
	}{
		{0, []string{"ab", "cde", "f"}},
		{1, []string{"b", "cde", "f"}},
		{2, []string{"cde", "f"}},
		{4, []string{"e", "f"}},
		{6, nil},
	} {
		bufs := [][]byte{[]byte("ab"), []byte("cde"), []byte("f")}
		var got []string
		for _, b := range advance(bufs, c.n) {
			got = append(got, string(b))
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("advance(ab cde f, %d) = %q, want %q", c.n, got, c.want)
		}
	}
}
