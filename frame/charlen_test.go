package frame

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// The bytes the tutorial's client (e2e/testdata/tutorial/GuideClient.cs,
// its SendPacket verbatim, compiled with mcs and run with Mono, whose
// Encoding.Default is UTF-8) sends for each command line, one message per
// argument. e2e's TestGuideClientBytes checks that Mono still sends these.
var guideClientSends = map[string]string{
	"año hola":       "0300000061c3b16f04000000686f6c61",
	"¿qué tal? bien": "04000000c2bf7175c3a90400000074616c3f040000006269656e",
	"привет мир":     "06000000d0bfd180d0b8d0b2d0b5d18203000000d0bcd0b8d180",
	"你好 ok":          "02000000e4bda0e5a5bd020000006f6b",
	"👍 x":            "02000000f09f918d0100000078",
}

// The same client with CODEPAGE set, as on .NET Framework for Windows,
// where Encoding.Default is the ANSI code page (mono's I18N assemblies).
var guideClientSendsCodePage = map[string]string{
	"1252 año Grüße": "0300000061f16f050000004772fcdf65",
	"437 año Grüße":  "0300000061a46f05000000477281e165",
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// splitAtFailure reads stream as a reach server does and returns the last
// frame it accepted (header and payload) and everything from the frame it
// refused or could not finish on.
func splitAtFailure(t *testing.T, stream []byte) (prev, failed []byte) {
	t.Helper()
	off := 0
	for {
		if len(stream)-off < HeaderSize {
			return prev, stream[off:]
		}
		n := int(uint32(stream[off]) | uint32(stream[off+1])<<8 | uint32(stream[off+2])<<16 | uint32(stream[off+3])<<24)
		if n < 0 || n > DefaultMaxFrame || off+HeaderSize+n > len(stream) {
			return prev, stream[off:]
		}
		prev = stream[off : off+HeaderSize+n]
		off += HeaderSize + n
	}
}

func TestDetectCharLengthOnTheGuideClientsBytes(t *testing.T) {
	for args, h := range guideClientSends {
		t.Run(args, func(t *testing.T) {
			stream := unhex(t, h)
			// A reach server with the default limit stops somewhere in the
			// stream: a length it refuses, or one the stream never fills.
			r := NewReader(strings.NewReader(string(stream)), DefaultMaxFrame)
			var err error
			for err == nil {
				_, err = r.Next()
			}
			if !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrTruncated) {
				t.Fatalf("reader ended with %v, want a refused or truncated frame", err)
			}
			prev, failed := splitAtFailure(t, stream)
			got, ok := DetectCharLength(prev, failed)
			if !ok {
				t.Fatalf("not recognised: prev % x, failed % x", prev, failed)
			}
			first := strings.Fields(args)[0]
			if got.Text != first || got.Bytes != len(first) || got.Declared >= got.Bytes {
				t.Errorf("got %+v, want the text %q of %d bytes", got, first, len(first))
			}
			// Next resumes at the client's next frame: the second message.
			if next, _, ok := charFrame(append(append([]byte{}, prev...), failed...)[got.Next:]); !ok || string(next) != strings.Fields(args)[1] {
				t.Errorf("Next = %d does not start the next message %q", got.Next, strings.Fields(args)[1])
			}
			ex := got.Explain()
			for _, want := range []string{"in characters, not bytes", "`data.Length`", "`Encoding.UTF8.GetBytes(data)`", Escape([]byte(first))} {
				if !strings.Contains(ex, want) {
					t.Errorf("explanation %q lacks %q", ex, want)
				}
			}
		})
	}
}

func TestDetectCharLengthTextHeader(t *testing.T) {
	// The server kept no earlier frame: "при" went by, the header it
	// refused is the middle of "привет".
	stream := unhex(t, guideClientSends["привет мир"])
	got, ok := DetectCharLength(nil, stream[10:])
	if !ok || got.Declared != 0 || got.Text != "вет" {
		t.Errorf("header of text: %+v, %v; want the text \"вет\"", got, ok)
	}
	if s := got.String(); !strings.Contains(s, "header holds text") {
		t.Errorf("evidence %q", s)
	}
	// Cut inside a character: the header starts with continuation bytes.
	stream = unhex(t, guideClientSends["你好 ok"])
	if _, ok := DetectCharLength(nil, stream[6:]); !ok {
		t.Errorf("a header starting inside 你 not recognised: % x", stream[6:])
	}
}

func TestDetectCharLengthNotFooled(t *testing.T) {
	correct := Append(Append(nil, []byte("año")), []byte("hola"))
	cases := []struct {
		name         string
		prev, failed []byte
	}{
		{"a correct client's frames", correct[:8], correct[8:]},
		{"an HTTP request", nil, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		{"a TLS hello", nil, unhex(t, "160301020001000200030367")},
		{"binary", nil, []byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3}},
		{"ASCII only", Append(nil, []byte("hola")), []byte("hola")},
		// "añ", correctly 3 bytes, then a frame of 111 bytes: its length's
		// low byte is "o", but what follows is no plausible header.
		{"a length byte that reads as a letter", Append(nil, []byte("añ")), Append(nil, []byte(strings.Repeat("x", 111)))},
		{"nothing", nil, nil},
	}
	for _, c := range cases {
		if got, ok := DetectCharLength(c.prev, c.failed); ok {
			t.Errorf("%s: recognised as the char-count bug: %+v", c.name, got)
		}
	}
}

func TestDetectCodePage(t *testing.T) {
	cases := []struct {
		name     string
		payload  []byte
		codePage string
		text     string
	}{
		{"guide client, Windows-1252, año", unhex(t, guideClientSendsCodePage["1252 año Grüße"])[4:7], "windows-1252", "año"},
		{"guide client, Windows-1252, Grüße", unhex(t, guideClientSendsCodePage["1252 año Grüße"])[11:], "windows-1252", "Grüße"},
		{"guide client, CP437, año", unhex(t, guideClientSendsCodePage["437 año Grüße"])[4:7], "cp437", "año"},
		{"guide client, CP437, Grüße", unhex(t, guideClientSendsCodePage["437 año Grüße"])[11:], "cp437", "Grüße"},
		{"Windows-1252, Müller", []byte("M\xfcller"), "windows-1252", "Müller"},
		{"Windows-1252, ¿qué?", []byte("\xbfqu\xe9?"), "windows-1252", "¿qué?"},
		{"Windows-1251, привет", []byte("\xef\xf0\xe8\xe2\xe5\xf2"), "windows-1251", "привет"},
	}
	for _, c := range cases {
		got, ok := DetectCodePage(c.payload)
		if !ok || got.CodePage != c.codePage || got.Text != c.text {
			t.Errorf("%s: %+v, %v; want %s %q", c.name, got, ok, c.codePage, c.text)
		}
	}
	for name, p := range map[string][]byte{
		"UTF-8":         []byte("año"),
		"ASCII":         []byte("hola"),
		"binary":        {0x00, 0x9d, 0x81, 0x8f},
		"control bytes": {0x1b, '[', '2', 'J', 0xf1},
	} {
		if got, ok := DetectCodePage(p); ok {
			t.Errorf("%s % x: read as %+v", name, p, got)
		}
	}
}

func TestEscapeNeverShowsReplacementCharacters(t *testing.T) {
	for in, want := range map[string]string{
		"a\xf1o":        `"a\xf1o"`,
		"año":           `"año"`,
		"\x1b[2Jhola\n": `"\x1b[2Jhola\n"`,
	} {
		if got := Escape([]byte(in)); got != want || strings.ContainsRune(got, '\uFFFD') {
			t.Errorf("Escape(%q) = %s, want %s", in, got, want)
		}
	}
}
