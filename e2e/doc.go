// Package e2e drives the real reach binary against a real router: miniupnpd
// over nftables NAT in network namespaces built by package lab, with coturn
// as the STUN server on the lab's internet. Nothing leaves the machine.
//
// Run as root with the lab's Debian packages installed (see lab.Require):
//
//	sudo go test ./e2e/
//
// Without them the tests skip, unless CI=true, where they fail. REACH_E2E_BIN
// names a reach binary to test instead of building ./cmd/reach.
package e2e
