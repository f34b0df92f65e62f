package testpeer

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/loopback"
	"github.com/switchboard/switchboard/internal/selfsigned"
)

// Prosody is Debian's Prosody (0.12) on loopback: domain localhost,
// STARTTLS (required) on Port and direct TLS on TLSPort with a self-signed
// certificate (CertFile), carbons, MAM archiving everything, stream
// management with resumption, CSI and ping, bookmarks (XEP-0402, kept in
// step with the XEP-0048 forms by mod_bookmarks) and a group chat service
// on MUCDomain whose rooms are persistent, open at once (no locking) and
// archived (MAM on the room). Its data lives in a temporary directory, so
// Stop and Start again keep accounts, rosters, rooms and archives.
type Prosody struct {
	Domain        string
	MUCDomain     string // the XEP-0045 service, conference.<Domain>
	Port, TLSPort int
	CertFile      string

	t      testing.TB
	bin    string
	dir    string
	conf   string
	log    loopback.Tail
	cmd    *exec.Cmd
	exited chan struct{}
}

// StartProsody runs a throwaway Prosody with the accounts it is given
// (user → password). It skips the test when prosody is not installed
// (.ci/run installs it), kills the server when the test ends and prints
// the tail of its log when the test failed.
func StartProsody(t testing.TB, users map[string]string) *Prosody {
	t.Helper()
	return startProsody(t, users, "debug")
}

// StartProsodyQuiet is StartProsody logging warnings only, and keeping
// archives in SQLite where it can, for benchmarks: the debug log and the
// file archive cost the server more than the traffic.
func StartProsodyQuiet(t testing.TB, users map[string]string) *Prosody {
	t.Helper()
	return startProsody(t, users, "warn")
}

// ArchivePageLimit is the most archive results StartProsodyQuiet's
// server sends in one page (max_archive_query_results); 50 is Prosody's
// default. Benchmarks set it to see what the page size costs.
var ArchivePageLimit = 50

// sqliteDBD is LuaDBI's SQLite driver for Debian's Lua 5.4, which
// Prosody 0.12 runs on.
const sqliteDBD = "/usr/lib/x86_64-linux-gnu/lua/5.4/dbd/sqlite3.so"

func startProsody(t testing.TB, users map[string]string, logLevel string) *Prosody {
	t.Helper()
	storage := `storage = "internal"`
	if _, err := os.Stat(sqliteDBD); err == nil && logLevel != "debug" {
		// Prosody's internal archive store slows down with every message
		// it holds; a benchmark that archives thousands measures it, not
		// the client, so archives go to SQLite when LuaDBI is installed
		// (lua-dbi-sqlite3, which .ci/run installs).
		// On tmpfs where there is one: SQLite syncs every insert.
		db := "archive.sqlite"
		if dir, err := os.MkdirTemp("/dev/shm", "prosody-archive-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			db = filepath.Join(dir, db)
		}
		storage = fmt.Sprintf("storage = { archive = \"sql\" }\nsql = { driver = \"SQLite3\", database = %q }\nmax_archive_query_results = %d", db, ArchivePageLimit)
	}
	bin, err := exec.LookPath("prosody")
	if err != nil {
		if _, statErr := os.Stat("/usr/bin/prosody"); statErr != nil {
			t.Skip("prosody is not installed (.ci/run installs it from Debian)")
		}
		bin = "/usr/bin/prosody"
	}
	p := &Prosody{Domain: "localhost", MUCDomain: "conference.localhost", t: t, bin: bin, dir: t.TempDir()}
	p.CertFile = filepath.Join(p.dir, "cert.pem")
	keyFile := filepath.Join(p.dir, "key.pem")
	if _, err := selfsigned.LoadOrCreate(p.CertFile, keyFile, p.Domain); err != nil {
		t.Fatal(err)
	}
	ports := FreeLoopbackPorts(t, 2)
	p.Port, p.TLSPort = ports[0], ports[1]

	// internal_plain keeps passwords as written below, so accounts are
	// files in the data directory and prosodyctl (slow, and fussy as root)
	// is not needed.
	data := filepath.Join(p.dir, "data")
	accounts := filepath.Join(data, p.Domain, "accounts")
	if err := os.MkdirAll(accounts, 0o700); err != nil {
		t.Fatal(err)
	}
	for user, pw := range users {
		content := fmt.Sprintf("return {\n\t[\"password\"] = %q;\n};\n", pw)
		if err := os.WriteFile(filepath.Join(accounts, user+".dat"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p.conf = filepath.Join(p.dir, "prosody.cfg.lua")
	cfg := fmt.Sprintf(`-- switchboard test server
run_as_root = true
pidfile = %[1]q
data_path = %[2]q
log = { { levels = { min = %[10]q }, to = "console" } }
interfaces = { "127.0.0.1" }
c2s_ports = { %[3]d }
c2s_direct_tls_ports = { %[4]d }
s2s_ports = { }
modules_enabled = {
	"roster"; "saslauth"; "tls"; "disco"; "carbons"; "mam"; "smacks";
	"ping"; "csi_simple"; "pep"; "private"; "bookmarks";
}
modules_disabled = { "s2s"; "offline" }
c2s_require_encryption = true
authentication = "internal_plain"
%[11]s
default_archive_policy = true
archive_expires_after = "never"
smacks_hibernation_time = 120
ssl = { certificate = %[5]q; key = %[6]q }
certificates = %[8]q

VirtualHost %[7]q
	ssl = { certificate = %[5]q; key = %[6]q }

Component %[9]q "muc"
	modules_enabled = { "muc_mam" }
	muc_room_locking = false
	muc_room_default_persistent = true
	muc_room_default_public_jids = true
	muc_log_all_rooms = true
	muc_log_expires_after = "never"
	muc_tombstones = false
`, filepath.Join(p.dir, "prosody.pid"), data, p.Port, p.TLSPort, p.CertFile, keyFile, p.Domain, p.dir, p.MUCDomain, logLevel, storage)
	if err := os.WriteFile(p.conf, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p.Start()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("prosody log (tail):\n%s", p.log.String())
		}
	})
	return p
}

// Start runs the server (again, after Stop) and returns once both ports
// accept connections.
func (p *Prosody) Start() {
	t := p.t
	t.Helper()
	p.exited = make(chan struct{})
	p.cmd = exec.Command(p.bin, "-F", "--config", p.conf)
	p.cmd.Dir = p.dir
	p.cmd.Stdout, p.cmd.Stderr = &p.log, &p.log
	// Take the server down with us if the test binary dies.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start prosody: %v", err)
	}
	cmd, exited := p.cmd, p.exited
	go func() { cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(15 * time.Second)
	for _, port := range []int{p.Port, p.TLSPort} {
		for {
			conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
			if err == nil {
				conn.Close()
				break
			}
			select {
			case <-exited:
				t.Fatalf("prosody exited at start: %v\n%s", cmd.ProcessState, p.log.String())
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("prosody did not listen on %d: %v\n%s", port, err, p.log.String())
			}
		}
	}
}

// Stop kills the server, as a crash would: clients see their connections
// drop without a closing stream. Stopping a stopped server does nothing.
func (p *Prosody) Stop() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Kill()
	<-p.exited
	p.cmd = nil
}

// Log is the tail of the server's console log.
func (p *Prosody) Log() string { return p.log.String() }

// Fingerprint is the SHA-256 of the server's self-signed certificate, in
// hex: the tls-fingerprint setting that pins it.
func (p *Prosody) Fingerprint() string {
	p.t.Helper()
	return certFingerprint(p.t, p.CertFile) // ejabberd.go
}
