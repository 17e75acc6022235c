//go:build windows

package probe

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// The ICMP API of iphlpapi.dll: what tracert uses, no administrator needed.
var (
	iphlpapi            = windows.NewLazySystemDLL("iphlpapi.dll")
	procIcmpCreateFile  = iphlpapi.NewProc("IcmpCreateFile")
	procIcmpCloseHandle = iphlpapi.NewProc("IcmpCloseHandle")
	procIcmpSendEcho2   = iphlpapi.NewProc("IcmpSendEcho2")
)

// echoReplyBufLen is the reply buffer of one IcmpSendEcho2 call: an
// ICMP_ECHO_REPLY, the echoed data or the quoted packet of an ICMP error,
// and an IO_STATUS_BLOCK, with room to spare.
const echoReplyBufLen = 1500

// ipOptionInformation is IP_OPTION_INFORMATION (ipexport.h); Go lays it
// out as C does in 32- and 64-bit processes.
type ipOptionInformation struct {
	TTL         uint8
	TOS         uint8
	Flags       uint8
	OptionsSize uint8
	OptionsData *byte
}

// sendHopProbes sends ICMP echo requests with TTL 1 to maxTTL at once
// through IcmpSendEcho2, one ICMP handle per TTL, as tracert does without
// elevation. Each call waits until ctx's deadline at most; a cancel is seen
// when the calls return. IPv4 only.
func sendHopProbes(ctx context.Context, target netip.AddrPort, maxTTL int) ([]Hop, error) {
	dst := target.Addr()
	if !dst.Is4() {
		return nil, fmt.Errorf("probe: hops toward %s: IPv4 only on Windows: %w", dst, ErrHopsUnsupported)
	}
	wait := HopTimeout
	if d, ok := ctx.Deadline(); ok {
		wait = time.Until(d)
	}
	ms := uint32(max(wait.Milliseconds(), 1))
	hops := make([]Hop, maxTTL)
	errs := make([]error, maxTTL)
	var wg sync.WaitGroup
	for i := range hops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hops[i], errs[i] = echoWithTTL(dst, i+1, ms)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("probe: hops toward %s: %w", dst, err)
	}
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("probe: hops toward %s: %w", dst, err)
	}
	return hops, nil
}

// echoWithTTL sends one echo request to dst with the given TTL and waits
// up to ms milliseconds for its answer.
func echoWithTTL(dst netip.Addr, ttl int, ms uint32) (Hop, error) {
	h, _, err := procIcmpCreateFile.Call()
	if windows.Handle(h) == windows.InvalidHandle {
		return Hop{}, fmt.Errorf("ttl %d: IcmpCreateFile: %w", ttl, err)
	}
	defer procIcmpCloseHandle.Call(h)
	opts := ipOptionInformation{TTL: uint8(ttl)}
	reply := make([]byte, echoReplyBufLen)
	a4 := dst.As4()
	sent := time.Now()
	n, _, err := procIcmpSendEcho2.Call(h, 0, 0, 0,
		uintptr(binary.NativeEndian.Uint32(a4[:])), // IPAddr: the bytes in network order
		uintptr(unsafe.Pointer(&echoPayload[0])), uintptr(len(echoPayload)),
		uintptr(unsafe.Pointer(&opts)),
		uintptr(unsafe.Pointer(&reply[0])), uintptr(len(reply)),
		uintptr(ms))
	rtt := time.Since(sent)
	// A router's time exceeded may come back as a reply or as the call's
	// error with the reply filled in; read the buffer either way.
	if r, ok := parseEchoReply(reply); ok {
		if hop, ok := r.hop(ttl, dst); ok {
			hop.RTT = rtt
			return hop, nil
		}
	}
	var code windows.Errno
	if n == 0 && errors.As(err, &code) && code != 0 && !isIPStatus(uint32(code)) {
		return Hop{}, fmt.Errorf("ttl %d: IcmpSendEcho2: %w", ttl, err)
	}
	return Hop{TTL: ttl}, nil
}
