package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/switchboard/switchboard/internal/loopback"
)

// The end-to-end scenarios run the daemon as a child process of the real
// binary, as a user runs it: its CPU time and resident memory are its own
// (read from /proc), apart from the load tool's clients, and nothing is
// wired differently from `switchboard serve`.

// benchDomain is the daemon's XMPP domain.
const benchDomain = "swbench.test"

// daemon is a running `switchboard serve`.
type daemon struct {
	bin, config, dataDir string
	xmppAddr, httpAddr   string
	cmd                  *exec.Cmd
	exited               chan struct{}
	log                  *loopback.Tail
}

// buildSwitchboard builds cmd/switchboard into dir, unless bin names a
// binary already built.
func buildSwitchboard(ctx context.Context, bin, dir string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	out := filepath.Join(dir, "switchboard")
	// No VCS stamp: the build must not depend on git being installed.
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "sqlite_fts5", "-buildvcs=false", "-o", out,
		"github.com/switchboard/switchboard/cmd/switchboard")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building switchboard (or pass --switchboard): %v\n%s", err, b)
	}
	return out, nil
}

// startDaemon writes a configuration for loopback ports in dir and starts
// the daemon on it; dataDir may hold a database already.
func startDaemon(bin, dir, dataDir string) (*daemon, error) {
	ports, err := loopback.FreePorts(3)
	if err != nil {
		return nil, err
	}
	d := &daemon{bin: bin, dataDir: dataDir, config: filepath.Join(dir, "switchboard.toml"), log: &loopback.Tail{},
		xmppAddr: "127.0.0.1:" + strconv.Itoa(ports[0]), httpAddr: "127.0.0.1:" + strconv.Itoa(ports[2]), exited: make(chan struct{})}
	// Login lockout off: thousands of correct logins from one address are
	// the load, not an attack.
	conf := fmt.Sprintf(`domain = %q
data_dir = %q
away_when_detached = false

[xmpp]
addr = %q
direct_tls_addr = "127.0.0.1:%d"

[http]
addr = %q

[log]
level = "warn"

[auth]
max_login_failures = 0
`, benchDomain, dataDir, d.xmppAddr, ports[1], d.httpAddr)
	if err := os.WriteFile(d.config, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	d.cmd = exec.Command(bin, "--config", d.config, "serve")
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting switchboard: %w", err)
	}
	go func() { d.cmd.Wait(); close(d.exited) }()
	for _, addr := range []string{d.xmppAddr, d.httpAddr} {
		// A generated history may upgrade its schema first: 39 s at 1M
		// messages for one migration on 2 busy cores, so minutes at 10M.
		switch err := loopback.WaitListening(addr, d.exited, 15*time.Minute); {
		case errors.Is(err, loopback.ErrExited):
			return nil, fmt.Errorf("switchboard exited at start: %v\n%s", d.cmd.ProcessState, d.log.String())
		case err != nil:
			d.stop()
			return nil, fmt.Errorf("switchboard: %w\n%s", err, d.log.String())
		}
	}
	return d, nil
}

// admin runs an admin command of the same binary on the daemon's data.
func (d *daemon) admin(stdin string, args ...string) (string, error) {
	cmd := exec.Command(d.bin, append([]string{"--config", d.config}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("switchboard %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// addUser creates a user with a password through the admin CLI.
func (d *daemon) addUser(name, password string) error {
	_, err := d.admin(password+"\n", "user", "add", name, "--password-stdin")
	return err
}

// stop ends the daemon with SIGTERM, as an init system would, and kills it
// if it has not exited within 20 s.
func (d *daemon) stop() error {
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(20 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
		return errors.New("switchboard did not stop within 20 s of SIGTERM")
	}
	return nil
}

// procStatus reads a field of /proc/PID/status, in KiB for the memory
// fields.
func (d *daemon) procStatus(field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				break
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, d.cmd.Process.Pid)
}

// rssKiB is the daemon's resident memory.
func (d *daemon) rssKiB() (int64, error) { return d.procStatus("VmRSS") }

// cpuTime is the CPU time the daemon has used (user and system), from
// /proc/PID/stat in clock ticks of 1/100 s.
func (d *daemon) cpuTime() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", d.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The command name is in parentheses and may hold spaces: count
	// fields after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("unreadable /proc/PID/stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("short /proc/PID/stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// othersWatch measures the CPU that processes other than the daemon and
// this tool use meanwhile: on a shared machine the figures are read
// against it.
type othersWatch struct {
	d           *daemon
	self, dcpu  time.Duration
	busy, total uint64
	wall        time.Time
}

func startOthersWatch(d *daemon) othersWatch {
	busy, total := loopback.MachineCPU()
	dcpu, _ := d.cpuTime()
	return othersWatch{d: d, self: cpuTime(), dcpu: dcpu, busy: busy, total: total, wall: time.Now()}
}

// percent is the others' share of all cores since the start.
func (w othersWatch) percent() float64 {
	busy, _ := loopback.MachineCPU()
	dcpu, _ := w.d.cpuTime()
	wall := time.Since(w.wall)
	// Jiffies are 1/100 s on Linux (USER_HZ).
	others := time.Duration(busy-w.busy)*10*time.Millisecond - (cpuTime() - w.self) - (dcpu - w.dcpu)
	if wall <= 0 || busy < w.busy {
		return 0
	}
	return max(0, 100*others.Seconds()/(wall.Seconds()*float64(runtime.NumCPU())))
}
