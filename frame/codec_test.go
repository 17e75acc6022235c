package frame

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

// csharpGetBytes is .NET BitConverter.GetBytes(int) on x86: the two's
// complement bytes, least significant first.
func csharpGetBytes(v int32) []byte {
	u := uint32(v)
	return []byte{byte(u), byte(u >> 8), byte(u >> 16), byte(u >> 24)}
}

// csharpToInt32 is .NET BitConverter.ToInt32(bytes, 0) on x86.
func csharpToInt32(b []byte) int32 {
	return int32(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
}

// csharpClientBytes are the bytes the guide's client sends for msgs: for
// each, the header from BitConverter.GetBytes(msg.Length) then the UTF-8.
func csharpClientBytes(msgs ...string) []byte {
	var out []byte
	for _, m := range msgs {
		utf8 := []byte(m)
		out = append(out, csharpGetBytes(int32(len(utf8)))...)
		out = append(out, utf8...)
	}
	return out
}

func TestWriteHolaBytes(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, []byte("hola")); err != nil {
		t.Fatal(err)
	}
	if got, want := hex.EncodeToString(buf.Bytes()), "04000000686f6c61"; got != want {
		t.Fatalf("Write(hola) = %s, want %s (what the C# guide sends)", got, want)
	}
	if got := Append([]byte("x"), []byte("hola")); !bytes.Equal(got, append([]byte("x"), buf.Bytes()...)) {
		t.Fatalf("Append = % x, want x then % x", got, buf.Bytes())
	}
}

func TestReadCSharpClient(t *testing.T) {
	long := strings.Repeat("ñ", 150) // 300 bytes of UTF-8
	msgs := []string{"hola", "", long, "adiós"}
	r := NewReader(bytes.NewReader(csharpClientBytes(msgs...)), 0)
	for i, want := range msgs {
		got, err := r.Next()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if string(got) != want {
			t.Fatalf("message %d = %q, want %q", i, got, want)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("after the last message: err = %v, want io.EOF", err)
	}
}

// TestCSharpReaderDecodesWrite decodes Write's output the way the guide's C#
// reader does: 4 bytes, BitConverter.ToInt32, then that many bytes.
func TestCSharpReaderDecodesWrite(t *testing.T) {
	msgs := [][]byte{[]byte("hola"), {}, bytes.Repeat([]byte{0xfe}, 300), []byte("adiós")}
	var wire bytes.Buffer
	for _, m := range msgs {
		if err := Write(&wire, m); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range msgs {
		hdr := make([]byte, 4)
		if _, err := io.ReadFull(&wire, hdr); err != nil {
			t.Fatalf("message %d header: %v", i, err)
		}
		n := csharpToInt32(hdr)
		if n < 0 {
			t.Fatalf("message %d: C# reads a negative length %d", i, n)
		}
		got := make([]byte, n)
		if _, err := io.ReadFull(&wire, got); err != nil {
			t.Fatalf("message %d payload: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("message %d = % x, want % x", i, got, want)
		}
	}
	if wire.Len() != 0 {
		t.Fatalf("%d bytes left over after the last message", wire.Len())
	}
}

func TestReaderTable(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		max     int
		want    []string // payloads read before the error
		wantErr error    // error after them
		check   func(t *testing.T, err error)
	}{
		{name: "empty stream", in: nil, wantErr: io.EOF},
		{name: "zero length", in: csharpGetBytes(0), want: []string{""}, wantErr: io.EOF},
		{name: "many frames in one read", in: csharpClientBytes("a", "bc", "", "def"),
			want: []string{"a", "bc", "", "def"}, wantErr: io.EOF},
		{name: "short header", in: []byte{4, 0}, wantErr: ErrTruncated,
			check: wantTruncated(true, 2, 4)},
		{name: "EOF mid header after a frame", in: append(csharpClientBytes("ok"), 1, 0, 0),
			want: []string{"ok"}, wantErr: ErrTruncated, check: wantTruncated(true, 3, 4)},
		{name: "EOF mid payload", in: append(csharpGetBytes(10), "abc"...), wantErr: ErrTruncated,
			check: wantTruncated(false, 3, 10)},
		{name: "EOF right after header", in: csharpGetBytes(1), wantErr: ErrTruncated,
			check: wantTruncated(false, 0, 1)},
		{name: "exactly the limit", in: csharpClientBytes("12345678"), max: 8,
			want: []string{"12345678"}, wantErr: io.EOF},
		{name: "oversize", in: csharpClientBytes("123456789"), max: 8, wantErr: ErrTooLarge,
			check: wantSize(9, 8, false)},
		{name: "2 GiB less one, default limit", in: csharpGetBytes(0x7fffffff), wantErr: ErrTooLarge,
			check: wantSize(0x7fffffff, DefaultMaxFrame, false)},
		{name: "top bit set", in: []byte{0, 0, 0, 0x80}, wantErr: ErrNegativeLength,
			check: wantSize(1<<31, DefaultMaxFrame, true)},
		{name: "minus one", in: csharpGetBytes(-1), max: 1 << 30, wantErr: ErrNegativeLength,
			check: wantSize(0xffffffff, 1<<30, true)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tc.in), tc.max)
			var got []string
			var err error
			for {
				var p []byte
				if p, err = r.Next(); err != nil {
					break
				}
				got = append(got, string(p))
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
				t.Errorf("payloads = %q, want %q", got, tc.want)
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.check != nil {
				tc.check(t, err)
			}
		})
	}
}

func wantTruncated(inHeader bool, got, want int64) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		var te *TruncatedError
		if !errors.As(err, &te) {
			t.Fatalf("err = %T %v, want *TruncatedError", err, err)
		}
		if te.InHeader != inHeader || te.Got != got || te.Want != want {
			t.Fatalf("err = %+v, want InHeader=%v Got=%d Want=%d", *te, inHeader, got, want)
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("errors.Is(%v, io.ErrUnexpectedEOF) = false", err)
		}
	}
}

func wantSize(length int64, limit int, negative bool) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		var se *SizeError
		if !errors.As(err, &se) {
			t.Fatalf("err = %T %v, want *SizeError", err, err)
		}
		if se.Length != length || se.Max != limit {
			t.Fatalf("err = %+v, want Length=%d Max=%d", *se, length, limit)
		}
		if errors.Is(err, ErrNegativeLength) != negative {
			t.Fatalf("errors.Is(%v, ErrNegativeLength) = %v, want %v", err, !negative, negative)
		}
		msg := err.Error()
		if negative && !strings.Contains(msg, "top bit") || !negative && !strings.Contains(msg, "--max-frame") {
			t.Errorf("message %q does not say what to do", msg)
		}
	}
}

func TestSizeErrorMessage(t *testing.T) {
	err := error(&SizeError{Length: 5 << 20, Max: DefaultMaxFrame})
	want := "frame: length 5242880 exceeds limit 1048576 bytes; raise --max-frame if the peer really sends frames this big"
	if err.Error() != want {
		t.Fatalf("message = %q, want %q", err.Error(), want)
	}
}

func TestReaderOneByteAtATime(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 9000) // 144000 bytes: grows past firstChunk
	wire := Append(Append(Append(nil, []byte("hola")), big), nil)
	r := NewReader(iotest.OneByteReader(bytes.NewReader(wire)), 0)
	for i, want := range [][]byte{[]byte("hola"), big, {}} {
		got, err := r.Next()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("frame %d: got %d bytes, want %d", i, len(got), len(want))
		}
		if !bytes.Equal(r.Frame(), Append(nil, want)) {
			t.Fatalf("frame %d: Frame() is not the header and payload as sent", i)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("err = %v, want io.EOF", err)
	}
}

func TestReaderPassesReadErrors(t *testing.T) {
	boom := errors.New("boom")
	r := NewReader(io.MultiReader(bytes.NewReader([]byte{9, 0}), iotest.ErrReader(boom)), 0)
	if _, err := r.Next(); !errors.Is(err, boom) || errors.Is(err, ErrTruncated) {
		t.Fatalf("err = %v, want the underlying error, not truncation", err)
	}
}

// TestReaderLyingHeaderMemory: a header announcing 64 MiB followed by a few
// bytes must not make the reader take 64 MiB.
func TestReaderLyingHeaderMemory(t *testing.T) {
	const limit = 64 << 20
	wire := append(csharpGetBytes(limit), "only this"...)
	r := NewReader(bytes.NewReader(wire), limit)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := r.Next()
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("err = %v, want ErrTruncated", err)
	}
	if took := after.TotalAlloc - before.TotalAlloc; took > 1<<20 {
		t.Fatalf("reading a header that lies about 64 MiB allocated %d bytes; want under 1 MiB", took)
	}
}

type countingWriter struct{ calls, n int }

func (c *countingWriter) Write(p []byte) (int, error) { c.calls++; c.n += len(p); return len(p), nil }

func TestWriteOneCall(t *testing.T) {
	for _, size := range []int{0, 1, 100, 5000, 200000} {
		var c countingWriter
		if err := Write(&c, make([]byte, size)); err != nil {
			t.Fatal(err)
		}
		if c.calls != 1 || c.n != size+HeaderSize {
			t.Fatalf("payload %d: %d Write calls with %d bytes, want 1 call with %d", size, c.calls, c.n, size+HeaderSize)
		}
	}
}
