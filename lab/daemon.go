package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const (
	// daemonReadyTimeout bounds waiting for miniupnpd and coturn to listen:
	// both bind within ~50 ms on an idle machine; a loaded 2-core runner
	// with several labs starting at once is much slower.
	daemonReadyTimeout = 15 * time.Second
	// readyPoll is the interval between readiness checks: short against
	// the ~50 ms the daemons take.
	readyPoll = 25 * time.Millisecond
	// stopGrace is how long a daemon gets to exit after SIGTERM (miniupnpd
	// removes its rules and writes its lease file) before it is killed.
	stopGrace = 3 * time.Second
	// stunAttemptTimeout bounds one readiness probe of coturn: a reply on
	// the same host takes under a millisecond, a loaded runner far less
	// than this.
	stunAttemptTimeout = time.Second
)

// daemon is a long-running process of the lab.
type daemon struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{} // closed when cmd exited
	err  error         // Wait's result, set before done is closed
}

// startDaemon starts name in host's namespace with its output going to
// logPath (appended to, or truncated first). The process lives until stop.
func (l *Lab) startDaemon(host, logPath string, appendLog bool, name string, args ...string) (*daemon, error) {
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if appendLog {
		flags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	}
	f, err := os.OpenFile(logPath, flags, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	cmd := l.Command(context.Background(), host, name, args...)
	cmd.Stdout = f
	cmd.Stderr = f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("lab: starting %s in %s: %w", name, host, err)
	}
	d := &daemon{name: name, cmd: cmd, log: f, done: make(chan struct{})}
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	l.mu.Lock()
	l.daemons = append(l.daemons, d)
	l.mu.Unlock()
	return d, nil
}

// exited reports whether the daemon has exited.
func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, then SIGKILL after stopGrace, and waits.
func (d *daemon) stop() {
	if !d.exited() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(stopGrace):
			_ = d.cmd.Process.Kill()
			<-d.done
		}
	}
	d.log.Close()
}

// coturnArgs runs coturn as the internet's STUN and TURN server on
// STUNServer: STUN binding requests need no credentials; allocations need
// the long-term credentials TURNUser/TURNPassword in realm TURNRealm, and
// relay from InetAddr. coturn 4.6 already refuses loopback and multicast
// peers; it is told which peers it may reach (the lab's internet,
// 11.0.0.0/24, and the PublicHost subnet 11.0.1.0/24) so that a coturn
// with other defaults (denied private ranges) still reaches them, and
// nothing else. TURNUDPOnly turns TCP relays (RFC 6062) off. With IPv6 it
// listens and relays on InetAddr6 too (coturnIPv6Args).
func coturnArgs(opts Options, dir string) []string {
	args := []string{
		"-L", InetAddr, "--listening-port", "3478", "--no-cli",
		"--no-tls", "--no-dtls", "--log-file", "stdout", "--simple-log",
		"--pidfile", filepath.Join(dir, "coturn.pid"),
		"--userdb", filepath.Join(dir, "turndb"),
		"--no-software-attribute",
		"--lt-cred-mech", "--user", TURNUser + ":" + TURNPassword, "--realm", TURNRealm,
		"--relay-ip", InetAddr,
		"--denied-peer-ip=0.0.0.0-255.255.255.255",
		"--allowed-peer-ip=11.0.0.0-11.0.0.255",
		"--allowed-peer-ip=11.0.1.0-11.0.1.255",
	}
	args = append(args, coturnIPv6Args(opts)...)
	if opts.TURNUDPOnly {
		args = append(args, "--no-tcp-relay")
	}
	return args
}

// startDaemons starts miniupnpd in the router (unless NoService) and coturn
// in the internet host (unless NoSTUN), and waits until they answer.
func (l *Lab) startDaemons(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, daemonReadyTimeout)
	defer cancel()
	var stun *daemon
	if !l.opts.NoSTUN {
		var err error
		stun, err = l.startDaemon(Inet, filepath.Join(l.dir, coturnLogName), false, "turnserver",
			coturnArgs(l.opts, l.dir)...)
		if err != nil {
			return err
		}
	}
	if !l.opts.NoService {
		if err := l.startRouter(ctx, false); err != nil {
			return err
		}
	}
	if stun == nil {
		return nil
	}
	// coturn answers a STUN binding request from the internet host itself.
	return l.waitReady(ctx, stun, func() bool {
		// turnutils_stunclient waits forever for a reply that a not yet
		// listening coturn never sends: bound each attempt.
		actx, cancel := context.WithTimeout(ctx, stunAttemptTimeout)
		defer cancel()
		out, _, code, err := l.Run(actx, Inet, "turnutils_stunclient", InetAddr)
		return err == nil && code == 0 && strings.Contains(out, InetAddr)
	})
}

// startRouter writes miniupnpd's config and starts it in the foreground,
// with a clean lease file unless keepLeases.
func (l *Lab) startRouter(ctx context.Context, keepLeases bool) error {
	conf := filepath.Join(l.dir, "miniupnpd.conf")
	lease := filepath.Join(l.dir, "upnp.leases")
	if keepLeases {
		// miniupnpd appends to its log: keep the first run's lines.
		if err := appendFile(filepath.Join(l.dir, miniupnpdLogName), "----- router restarted -----\n"); err != nil {
			return err
		}
	} else if err := os.Remove(lease); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("lab: %w", err)
	}
	if err := os.WriteFile(conf, []byte(miniupnpdConfig(l.opts, lease)), 0o644); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	logPath := filepath.Join(l.dir, miniupnpdLogName)
	var logStart int64 // readiness looks only at this run's lines
	if fi, err := os.Stat(logPath); err == nil && keepLeases {
		logStart = fi.Size()
	}
	d, err := l.startDaemon(Router, logPath, keepLeases, "miniupnpd",
		"-f", conf, "-d", "-P", filepath.Join(l.dir, "miniupnpd.pid"))
	if err != nil {
		return err
	}
	return l.waitReady(ctx, d, func() bool {
		log, _ := os.ReadFile(logPath)
		if int64(len(log)) < logStart {
			return false
		}
		if l.opts.NATPMP && !strings.Contains(string(log[logStart:]), "Listening for NAT-PMP/PCP traffic") {
			return false
		}
		if !l.opts.UPnP {
			return true
		}
		// The description must be served to the LAN.
		script := fmt.Sprintf("exec 3<>/dev/tcp/%s/%d", RouterLAN, UPnPHTTPPort)
		_, _, code, err := l.Run(ctx, PC, "bash", "-c", script)
		return err == nil && code == 0
	})
}

// waitReady polls ready until it holds, the daemon exits or ctx ends.
func (l *Lab) waitReady(ctx context.Context, d *daemon, ready func() bool) error {
	tick := time.NewTicker(readyPoll)
	defer tick.Stop()
	for {
		if d.exited() {
			return fmt.Errorf("lab: %s exited at start: %v (see its log in Logs)", d.name, d.err)
		}
		if ready() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lab: %s not ready: %w", d.name, ctx.Err())
		case <-tick.C:
		}
	}
}

// RestartRouter models a router reboot: it stops miniupnpd, removes its
// port forwards from the ruleset (a reboot loses them) and starts it again.
// With keepLeases miniupnpd restores the mappings from its lease file (a
// router that stores them); without, it comes back with none. Its log
// continues in the same file.
func (l *Lab) RestartRouter(ctx context.Context, keepLeases bool) error {
	if l.opts.NoService {
		return errors.New("lab: RestartRouter: this lab runs no miniupnpd")
	}
	l.mu.Lock()
	var router *daemon
	for _, d := range l.daemons {
		if d.name == "miniupnpd" && !d.exited() {
			router = d
		}
	}
	l.mu.Unlock()
	if router != nil {
		router.stop()
	}
	for _, chain := range []string{nftForwardChain, nftPreChain, nftPostChain} {
		if _, errOut, code, err := l.Run(ctx, Router, "nft", "flush", "chain", "inet", nftTable, chain); err != nil || code != 0 {
			return fmt.Errorf("lab: flushing %s: exit %d, %v: %s", chain, code, err, errOut)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, daemonReadyTimeout)
	defer cancel()
	return l.startRouter(ctx, keepLeases)
}

// appendFile appends text to the file at path.
func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	_, err = f.WriteString(text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return nil
}
