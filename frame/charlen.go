package frame

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// The tutorial's client sends each message as BitConverter.GetBytes(data.Length)
// and then Encoding.Default.GetBytes(data): the length of the string in
// characters (UTF-16 code units), not of the bytes that follow. Text in
// ASCII frames correctly; "año" declares 3 bytes and sends 4, and every
// frame after it is read out of step. The functions here recognise that
// from the bytes a connection sent, and name the legacy code page of a
// payload that is not UTF-8 (a Windows client whose Encoding.Default is
// Windows-1252, say). They only read the bytes given: no I/O, no state.

// CharLengthAdvice says what to change in a client that counts the length
// in characters.
const CharLengthAdvice = "this client counts the length in characters, not bytes (the tutorial's `data.Length`): " +
	"use `Encoding.UTF8.GetBytes(data)` and send that array's `Length`"

// CharLength is the evidence that a peer writes a frame's length as its
// text's length in characters instead of bytes.
type CharLength struct {
	// Declared is the length the header announced: the text's length in
	// characters. Zero when only a header made of text was seen.
	Declared int
	// Bytes is the text's length in UTF-8 bytes, larger than Declared.
	// Zero when only a header made of text was seen.
	Bytes int
	// Text is the message the peer meant to send in that frame, or, for a
	// header made of text, the text seen from the header on.
	Text string
	// Next is where the peer's next frame begins in the bytes given to
	// DetectCharLength (prev and failed together): a server that tolerates
	// the bug resumes reading there. Zero when it cannot be told.
	Next int
}

// String is the evidence in one line, without the advice.
func (c CharLength) String() string {
	if c.Declared == 0 {
		return fmt.Sprintf("a frame header holds text (%s), not a length", Escape([]byte(c.Text)))
	}
	return fmt.Sprintf("a frame declared %d bytes for %s, which is %d characters but %d bytes in UTF-8",
		c.Declared, Escape([]byte(c.Text)), c.Declared, c.Bytes)
}

// Explain is the evidence and the advice: what a server logs.
func (c CharLength) Explain() string { return c.String() + ": " + CharLengthAdvice }

// plausibleMax is the largest length a plausible next header declares: a
// text message from a chat-like client, the tutorial's use, is far smaller.
const plausibleMax = 1 << 20

// DetectCharLength reports whether the bytes a connection sent show the
// tutorial's char-count length bug. prev is the last frame the reader
// accepted, header and payload as received (nil if none); failed is what
// came after it: the header the reader refused or could not complete, and
// whatever followed, as much as is at hand. Two shapes are recognised:
//   - prev's header cut a UTF-8 text short: read as a count of characters,
//     it spans prev's payload and the first bytes of failed, and a
//     plausible header follows (or the stream ends);
//   - failed's header is itself text with non-ASCII letters (it lies in the
//     middle of a text that an earlier frame, not kept, cut short).
func DetectCharLength(prev, failed []byte) (CharLength, bool) {
	if len(prev) >= HeaderSize {
		stream := append(append(make([]byte, 0, len(prev)+len(failed)), prev...), failed...)
		if text, n, ok := charFrame(stream); ok && len(text) > charCount(text) && plausibleNext(stream[n:], 2) {
			return CharLength{Declared: charCount(text), Bytes: len(text), Text: string(text), Next: n}, true
		}
	}
	if text, ok := textHeader(failed); ok {
		return CharLength{Text: text}, true
	}
	return CharLength{}, false
}

// charFrame reads the frame at the start of s as the tutorial's client
// writes it: a length in characters, then that many characters of UTF-8
// text. It returns the text and where the next frame starts.
func charFrame(s []byte) (text []byte, next int, ok bool) {
	if len(s) < HeaderSize {
		return nil, 0, false
	}
	want := int64(binary.LittleEndian.Uint32(s))
	if want > math.MaxInt32 {
		return nil, 0, false
	}
	body := s[HeaderSize:]
	units, i := int64(0), 0
	for units < want {
		r, size := utf8.DecodeRune(body[i:])
		if size == 0 || r == utf8.RuneError && size == 1 || !isText(r) {
			return nil, 0, false // not enough bytes, or not text
		}
		units += int64(utf16.RuneLen(r))
		i += size
	}
	if units != want { // a character of two units straddles the end
		return nil, 0, false
	}
	return body[:i], HeaderSize + i, true
}

// plausibleNext reports whether s can start the next frame of a client
// with the bug (or of one without it): it ends before a whole header, or
// its header declares a plausible length and the bytes after it read as
// text either way. depth bounds how many frames ahead it looks.
func plausibleNext(s []byte, depth int) bool {
	if len(s) < HeaderSize {
		return true
	}
	n := binary.LittleEndian.Uint32(s)
	if n > plausibleMax {
		return false
	}
	if _, next, ok := charFrame(s); ok {
		return depth == 0 || plausibleNext(s[next:], depth-1)
	}
	// Fewer bytes than a whole frame: they must be text, perhaps cut
	// inside a character.
	body := s[HeaderSize:min(len(s), HeaderSize+int(n))]
	return textPrefix(body) >= len(body)-utf8.UTFMax+1
}

// textHeader reports whether the first bytes of failed, its header, are
// the middle of a text with non-ASCII characters: leading continuation
// bytes of a cut character allowed, the rest valid UTF-8 text. It returns
// the text seen from the first whole character on.
func textHeader(failed []byte) (string, bool) {
	if len(failed) < HeaderSize {
		return "", false
	}
	start := 0
	for start < 3 && failed[start]&0xC0 == 0x80 {
		start++
	}
	nonASCII := start > 0
	for _, b := range failed[start:HeaderSize] {
		nonASCII = nonASCII || b >= utf8.RuneSelf
	}
	end := start + textPrefix(failed[start:])
	if !nonASCII || end < HeaderSize {
		return "", false
	}
	return string(failed[start:min(end, start+64)]), true
}

// textPrefix is how many bytes at the start of p are whole characters of
// UTF-8 text.
func textPrefix(p []byte) int {
	i := 0
	for i < len(p) {
		r, size := utf8.DecodeRune(p[i:])
		if r == utf8.RuneError && size == 1 || !isText(r) {
			break
		}
		i += size
	}
	return i
}

// isText reports whether r belongs in a chat message: printable, or a tab
// or line break.
func isText(r rune) bool { return unicode.IsPrint(r) || r == '\t' || r == '\n' || r == '\r' }

// charCount is the length of text in UTF-16 code units: C#'s string.Length.
func charCount(text []byte) int {
	n := 0
	for _, r := range string(text) {
		n += utf16.RuneLen(r)
	}
	return n
}

// Escape shows p as text that is safe to print: UTF-8 text as it is, and
// control characters and bytes that are not UTF-8 as Go escapes ("\xf1"),
// never as U+FFFD.
func Escape(p []byte) string { return strconv.Quote(string(p)) }

// LegacyAdvice says what to change in a client whose text is not UTF-8.
const LegacyAdvice = "the client encodes text with a legacy code page (.NET Framework's `Encoding.Default` on Windows): " +
	"use `Encoding.UTF8.GetBytes(data)`"

// LegacyText is a payload that is not UTF-8, read as the legacy code page
// that most likely produced it.
type LegacyText struct {
	CodePage string // "windows-1252", "cp437" (the DOS console) or "windows-1251"
	Text     string // the payload decoded from that code page
}

// String is the evidence in one line: the escaped bytes and the reading.
func (l LegacyText) String() string {
	return fmt.Sprintf("not UTF-8; as %s it reads %s", l.CodePage, strconv.Quote(l.Text))
}

// codePages are the legacy code pages DetectCodePage weighs, the most
// common first: a tie goes to the earlier. Each maps bytes 0x80-0xFF.
var codePages = []struct {
	name string
	high *[128]rune
}{
	{"windows-1252", &windows1252},
	{"cp437", &cp437},
	{"windows-1251", &windows1251},
}

// DetectCodePage names the legacy code page that most likely produced p, a
// payload that is not valid UTF-8, and decodes it. It reports false for
// valid UTF-8, for text without bytes above 0x7F, and when no code page
// reads p as text (binary data).
func DetectCodePage(p []byte) (LegacyText, bool) {
	if utf8.Valid(p) {
		return LegacyText{}, false
	}
	best, bestScore := -1, 0
	for i, cp := range codePages {
		if s := score(p, cp.high); s > bestScore {
			best, bestScore = i, s
		}
	}
	if best < 0 {
		return LegacyText{}, false
	}
	return LegacyText{CodePage: codePages[best].name, Text: decode(p, codePages[best].high)}, true
}

func decode(p []byte, high *[128]rune) string {
	rs := make([]rune, len(p))
	for i, b := range p {
		rs[i] = rune(b)
		if b >= 0x80 {
			rs[i] = high[b-0x80]
		}
	}
	return string(rs)
}

// score weighs how much p, read in a code page, looks like text: a byte
// above 0x7F that reads as a letter next to letters counts most, a symbol
// that text rarely holds (box drawing, an undefined byte) counts against,
// a control byte rules the code page out. Letters cased like their
// neighbours count more; so does a word of high bytes only in a
// Cyrillic page (Windows-1252 reads Russian as Latin-1 letters too).
func score(p []byte, high *[128]rune) int {
	rs := []rune(decode(p, high))
	total, highLetters, asciiLetters := 0, 0, 0
	for i, r := range rs {
		if p[i] < 0x80 {
			if unicode.IsLetter(r) {
				asciiLetters++
			}
			if !isText(r) {
				return 0
			}
			continue
		}
		switch {
		case r == utf8.RuneError:
			return 0
		case unicode.IsLetter(r):
			highLetters++
			total += 2
			for _, j := range []int{i - 1, i + 1} {
				if j < 0 || j >= len(rs) || !unicode.IsLetter(rs[j]) {
					continue
				}
				if script(rs[j]) != script(r) {
					total -= 4 // "qй": no word mixes alphabets
				} else {
					total++
				}
			}
			if i > 0 && unicode.IsLetter(rs[i-1]) && unicode.IsUpper(rs[i-1]) == unicode.IsUpper(r) {
				total++
			}
		case unicode.In(r, unicode.Po, unicode.Pi, unicode.Pf, unicode.Pd, unicode.Sc, unicode.Zs):
			total++ // ¿ ¡ « » “ ” – € and the like
		default:
			total -= 2 // ╬ ± ¤ ¶ and the like
		}
	}
	if high == &windows1251 && highLetters > 0 && highLetters >= 2*asciiLetters {
		total += highLetters
	}
	return max(total, 0)
}

// script is the alphabet of a letter, as far as the code pages here go.
func script(r rune) *unicode.RangeTable {
	for _, t := range []*unicode.RangeTable{unicode.Latin, unicode.Cyrillic, unicode.Greek} {
		if unicode.Is(t, r) {
			return t
		}
	}
	return nil
}

// The upper halves of the code pages, from Python's codecs; U+FFFD marks
// bytes the code page leaves undefined.
var windows1252 = [128]rune{
	0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, // 80
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0xFFFD, 0x017D, 0xFFFD, // 88
	0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, // 90
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0x0178, // 98
	0x00A0, 0x00A1, 0x00A2, 0x00A3, 0x00A4, 0x00A5, 0x00A6, 0x00A7, // A0
	0x00A8, 0x00A9, 0x00AA, 0x00AB, 0x00AC, 0x00AD, 0x00AE, 0x00AF, // A8
	0x00B0, 0x00B1, 0x00B2, 0x00B3, 0x00B4, 0x00B5, 0x00B6, 0x00B7, // B0
	0x00B8, 0x00B9, 0x00BA, 0x00BB, 0x00BC, 0x00BD, 0x00BE, 0x00BF, // B8
	0x00C0, 0x00C1, 0x00C2, 0x00C3, 0x00C4, 0x00C5, 0x00C6, 0x00C7, // C0
	0x00C8, 0x00C9, 0x00CA, 0x00CB, 0x00CC, 0x00CD, 0x00CE, 0x00CF, // C8
	0x00D0, 0x00D1, 0x00D2, 0x00D3, 0x00D4, 0x00D5, 0x00D6, 0x00D7, // D0
	0x00D8, 0x00D9, 0x00DA, 0x00DB, 0x00DC, 0x00DD, 0x00DE, 0x00DF, // D8
	0x00E0, 0x00E1, 0x00E2, 0x00E3, 0x00E4, 0x00E5, 0x00E6, 0x00E7, // E0
	0x00E8, 0x00E9, 0x00EA, 0x00EB, 0x00EC, 0x00ED, 0x00EE, 0x00EF, // E8
	0x00F0, 0x00F1, 0x00F2, 0x00F3, 0x00F4, 0x00F5, 0x00F6, 0x00F7, // F0
	0x00F8, 0x00F9, 0x00FA, 0x00FB, 0x00FC, 0x00FD, 0x00FE, 0x00FF, // F8
}

var cp437 = [128]rune{
	0x00C7, 0x00FC, 0x00E9, 0x00E2, 0x00E4, 0x00E0, 0x00E5, 0x00E7, // 80
	0x00EA, 0x00EB, 0x00E8, 0x00EF, 0x00EE, 0x00EC, 0x00C4, 0x00C5, // 88
	0x00C9, 0x00E6, 0x00C6, 0x00F4, 0x00F6, 0x00F2, 0x00FB, 0x00F9, // 90
	0x00FF, 0x00D6, 0x00DC, 0x00A2, 0x00A3, 0x00A5, 0x20A7, 0x0192, // 98
	0x00E1, 0x00ED, 0x00F3, 0x00FA, 0x00F1, 0x00D1, 0x00AA, 0x00BA, // A0
	0x00BF, 0x2310, 0x00AC, 0x00BD, 0x00BC, 0x00A1, 0x00AB, 0x00BB, // A8
	0x2591, 0x2592, 0x2593, 0x2502, 0x2524, 0x2561, 0x2562, 0x2556, // B0
	0x2555, 0x2563, 0x2551, 0x2557, 0x255D, 0x255C, 0x255B, 0x2510, // B8
	0x2514, 0x2534, 0x252C, 0x251C, 0x2500, 0x253C, 0x255E, 0x255F, // C0
	0x255A, 0x2554, 0x2569, 0x2566, 0x2560, 0x2550, 0x256C, 0x2567, // C8
	0x2568, 0x2564, 0x2565, 0x2559, 0x2558, 0x2552, 0x2553, 0x256B, // D0
	0x256A, 0x2518, 0x250C, 0x2588, 0x2584, 0x258C, 0x2590, 0x2580, // D8
	0x03B1, 0x00DF, 0x0393, 0x03C0, 0x03A3, 0x03C3, 0x00B5, 0x03C4, // E0
	0x03A6, 0x0398, 0x03A9, 0x03B4, 0x221E, 0x03C6, 0x03B5, 0x2229, // E8
	0x2261, 0x00B1, 0x2265, 0x2264, 0x2320, 0x2321, 0x00F7, 0x2248, // F0
	0x00B0, 0x2219, 0x00B7, 0x221A, 0x207F, 0x00B2, 0x25A0, 0x00A0, // F8
}

var windows1251 = [128]rune{
	0x0402, 0x0403, 0x201A, 0x0453, 0x201E, 0x2026, 0x2020, 0x2021, // 80
	0x20AC, 0x2030, 0x0409, 0x2039, 0x040A, 0x040C, 0x040B, 0x040F, // 88
	0x0452, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, // 90
	0xFFFD, 0x2122, 0x0459, 0x203A, 0x045A, 0x045C, 0x045B, 0x045F, // 98
	0x00A0, 0x040E, 0x045E, 0x0408, 0x00A4, 0x0490, 0x00A6, 0x00A7, // A0
	0x0401, 0x00A9, 0x0404, 0x00AB, 0x00AC, 0x00AD, 0x00AE, 0x0407, // A8
	0x00B0, 0x00B1, 0x0406, 0x0456, 0x0491, 0x00B5, 0x00B6, 0x00B7, // B0
	0x0451, 0x2116, 0x0454, 0x00BB, 0x0458, 0x0405, 0x0455, 0x0457, // B8
	0x0410, 0x0411, 0x0412, 0x0413, 0x0414, 0x0415, 0x0416, 0x0417, // C0
	0x0418, 0x0419, 0x041A, 0x041B, 0x041C, 0x041D, 0x041E, 0x041F, // C8
	0x0420, 0x0421, 0x0422, 0x0423, 0x0424, 0x0425, 0x0426, 0x0427, // D0
	0x0428, 0x0429, 0x042A, 0x042B, 0x042C, 0x042D, 0x042E, 0x042F, // D8
	0x0430, 0x0431, 0x0432, 0x0433, 0x0434, 0x0435, 0x0436, 0x0437, // E0
	0x0438, 0x0439, 0x043A, 0x043B, 0x043C, 0x043D, 0x043E, 0x043F, // E8
	0x0440, 0x0441, 0x0442, 0x0443, 0x0444, 0x0445, 0x0446, 0x0447, // F0
	0x0448, 0x0449, 0x044A, 0x044B, 0x044C, 0x044D, 0x044E, 0x044F, // F8
}
