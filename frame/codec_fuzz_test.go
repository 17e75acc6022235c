package frame

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func FuzzReader(f *testing.F) {
	f.Add(csharpClientBytes("hola", "", "x"), 16)
	f.Add([]byte{0, 0, 0, 0x80}, 16)
	f.Add([]byte{5, 0, 0, 0, 'a'}, 16)
	f.Add([]byte{1, 0}, 0)
	f.Fuzz(func(t *testing.T, in []byte, limit int) {
		limit = limit%1024 + 1
		if limit < 1 {
			limit += 1024
		}
		r := NewReader(bytes.NewReader(in), limit)
		var consumed []byte
		for {
			p, err := r.Next()
			if err != nil {
				rest := in[len(consumed):]
				switch {
				case err == io.EOF:
					if len(rest) != 0 {
						t.Fatalf("io.EOF with %d bytes unread", len(rest))
					}
				case errors.Is(err, ErrTruncated):
					if len(rest) == 0 {
						t.Fatalf("truncated with nothing left: %v", err)
					}
				case errors.Is(err, ErrTooLarge):
					var se *SizeError
					if !errors.As(err, &se) || se.Length <= int64(limit) || len(rest) < 4 {
						t.Fatalf("too large for no reason: %v", err)
					}
				default:
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if len(p) > limit {
				t.Fatalf("payload of %d bytes over limit %d", len(p), limit)
			}
			consumed = Append(consumed, p)
			if !bytes.HasPrefix(in, consumed) {
				t.Fatalf("re-encoded frames are not a prefix of the input")
			}
		}
	})
}

// repeatReader serves data again and again without allocating.
type repeatReader struct {
	data []byte
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := copy(p, r.data[r.off:])
	r.off = (r.off + n) % len(r.data)
	return n, nil
}

var benchSizes = []struct {
	name string
	n    int
}{{"64B", 64}, {"4KiB", 4 << 10}, {"64KiB", 64 << 10}}

func BenchmarkWrite(b *testing.B) {
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			payload := make([]byte, s.n)
			b.SetBytes(int64(s.n))
			b.ReportAllocs()
			for b.Loop() {
				if err := Write(io.Discard, payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRead(b *testing.B) {
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			r := NewReader(&repeatReader{data: Append(nil, make([]byte, s.n))}, 0)
			b.SetBytes(int64(s.n))
			b.ReportAllocs()
			for b.Loop() {
				if p, err := r.Next(); err != nil || len(p) != s.n {
					b.Fatal(len(p), err)
				}
			}
		})
	}
}
