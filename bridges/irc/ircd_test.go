package irc

// This file starts real IRC servers from Debian packages for tests: ngircd
// and InspIRCd 3 (with Atheme services when SASL is wanted). Each server gets
// a configuration of its own in t.TempDir(), listens on free loopback ports
// only (never 6667), runs in the foreground and is killed when the test
// ends. Its logs stay in the temporary directory and their tails are printed
// when the test fails. Readiness is polled (TCP connect, then CAP LS 302),
// never slept for.
//
// Behaviour worth knowing when writing tests (the harness tests measure it):
//
//   - InspIRCd completes a registration only in its once-a-second background
//     pass, so every client (the bridge included) waits about 1 s for 001.
//     ngircd answers at once but holds the first command after registration
//     back for about 1 s.
//   - ngircd never disconnects a client for sending too fast. It handles at
//     most 3 commands of a user and then throttles the connection for a
//     second (also when the user sent 256 bytes or more in that second),
//     reading nothing meanwhile: a burst of 7 short lines takes about 3 s to
//     get through, and the sender only sees TCP backpressure. Only a line
//     over 512 bytes is fatal ("Request too long").
//   - InspIRCd adds a penalty of about one per command and drains it at
//     commandrate/1000 a second. With the defaults (commandrate 1000,
//     threshold 10, fakelag on) a flooder is slowed to one command a second,
//     not disconnected, unless its unread lines pass the 8K recvq ("RecvQ
//     exceeded"). With serverOpts.CommandRate set, fakelag is off and a
//     client over the threshold is dropped with
//     "ERROR :Closing link: (nick@127.0.0.1) [Excess Flood]".
//   - CAP LS 302 offers, on ngircd 26: multi-prefix. On InspIRCd 3.15 as
//     configured here: account-notify account-tag away-notify batch
//     cap-notify chghost echo-message extended-join inspircd.org/poison
//     inspircd.org/standard-replies invite-notify labeled-response
//     message-tags multi-prefix server-time setname userhost-in-names, plus
//     sasl=PLAIN,EXTERNAL once services have linked.

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/switchboard/switchboard/internal/selfsigned"
	"github.com/switchboard/switchboard/internal/testpeer"
)

// serverOpts chooses what a test server offers beyond plain IRC.
type serverOpts struct {
	// TLS makes the server also listen with TLS, on TLSAddr, with a
	// self-signed ECDSA certificate made by the test (CertDER, Fingerprint).
	TLS bool
	// SASL (InspIRCd only) links Atheme services and enables m_sasl and
	// m_services_account, so SASL PLAIN works for accounts registered with
	// RegisterAccount and, with TLS too, SASL EXTERNAL for client
	// certificates added with AddCertFingerprint. The server is ready only
	// once CAP LS lists sasl.
	SASL bool
	// CommandRate (InspIRCd only) sets the connect class's commandrate, in
	// thousandths of a command per second, with fakelag off, so a client
	// that floods is disconnected with "Excess Flood". 0 keeps InspIRCd's
	// defaults (commandrate 1000, threshold 10, fakelag on).
	CommandRate int
	// FloodThreshold (InspIRCd only, with CommandRate) is the penalty, in
	// commands, a client may build up before it is disconnected; 0 means 20,
	// InspIRCd's own advice for classes without fakelag.
	FloodThreshold int
	// ChanHistory (InspIRCd only) loads m_chanhistory and gives every new
	// channel +H with this many lines (kept for a day), replayed on join.
	// 0 leaves the module out.
	ChanHistory int
}

// ircServer is one running test server.
type ircServer struct {
	Name        string // "ngircd" or "inspircd"
	ServerName  string // the name the server gives itself in its lines
	Addr        string // plain host:port
	TLSAddr     string // TLS host:port; "" unless opts.TLS
	CertDER     []byte // the TLS certificate; nil unless opts.TLS
	Fingerprint string // lower-case hex SHA-256 of CertDER
	CapLS       string // the capabilities CAP LS 302 advertised when last ready

	opts serverOpts
	dir  string
	bin  string
	args []string

	mu       sync.Mutex
	proc     *harnessProc
	services *harnessProc // atheme-services, when opts.SASL
}

// ffdhe2048PEM is the RFC 7919 ffdhe2048 group. ngircd otherwise generates
// fresh Diffie-Hellman parameters on every start, which takes seconds.
const ffdhe2048PEM = `-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
`

// startNgircd starts ngircd on free loopback ports. It skips the test when
// ngircd is not installed and fails it when opts asks for something only
// InspIRCd offers.
func startNgircd(t testing.TB, opts serverOpts) *ircServer {
	t.Helper()
	bin := findServerBinary(t, "ngircd")
	if opts.SASL || opts.CommandRate != 0 || opts.ChanHistory != 0 {
		t.Fatalf("startNgircd: SASL, CommandRate and ChanHistory are InspIRCd only")
	}
	s := newIRCServer(t, "ngircd", "irc.ngircd.test", bin, opts)
	ports := testpeer.FreeLoopbackPorts(t, 2)
	s.Addr = fmt.Sprintf("127.0.0.1:%d", ports[0])

	conf := filepath.Join(s.dir, "ngircd.conf")
	var b strings.Builder
	fmt.Fprintf(&b, `[Global]
	Name = %s
	Info = switchboard test server
	AdminInfo1 = switchboard tests
	AdminInfo2 = loopback
	AdminEMail = admin@example.test
	Listen = 127.0.0.1
	Ports = %d
	MotdPhrase = switchboard test server
	PidFile = %s
[Limits]
	MaxConnections = 0
	MaxConnectionsIP = 1000
	MaxJoins = 100
	MaxNickLength = 30
	PingTimeout = 120
	PongTimeout = 20
[Options]
	DNS = no
	Ident = no
	PAM = no
`, s.ServerName, ports[0], filepath.Join(s.dir, "ngircd.pid"))
	if opts.TLS {
		certFile, keyFile := s.writeCert(t)
		dhFile := filepath.Join(s.dir, "dhparams.pem")
		writeTestFile(t, dhFile, ffdhe2048PEM)
		s.TLSAddr = fmt.Sprintf("127.0.0.1:%d", ports[1])
		fmt.Fprintf(&b, `[SSL]
	CertFile = %s
	KeyFile = %s
	DHFile = %s
	Ports = %d
`, certFile, keyFile, dhFile, ports[1])
	}
	writeTestFile(t, conf, b.String())
	// -n: stay in the foreground and log to the console (our log file).
	// Run as root, ngircd switches to nobody after reading its files and
	// then cannot write the PID file into the private temporary directory:
	// it logs that and carries on.
	s.args = []string{"-n", "-f", conf}
	s.start(t, false)
	return s
}

// startInspircd starts InspIRCd 3 on free loopback ports with the IRCv3
// modules the bridge uses, plus TLS, SASL (through Atheme), a flood limit
// and channel history as opts asks. It skips the test when InspIRCd (or,
// for SASL, atheme-services) is not installed.
func startInspircd(t testing.TB, opts serverOpts) *ircServer {
	t.Helper()
	bin := findServerBinary(t, "inspircd")
	s := newIRCServer(t, "inspircd", "irc.inspircd.test", bin, opts)
	var athemeBin string
	if opts.SASL {
		athemeBin = findServerBinary(t, "atheme-services")
	}
	ports := testpeer.FreeLoopbackPorts(t, 3) // clients, TLS clients, services link
	s.Addr = fmt.Sprintf("127.0.0.1:%d", ports[0])

	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w(`<config format="xml">`)
	w(`<path configdir="%[1]s" datadir="%[1]s" logdir="%[1]s">`, s.dir)
	w(`<server name="%s" description="switchboard test server" network="TestNet" id="0AA">`, s.ServerName)
	w(`<admin name="switchboard tests" nick="admin" email="admin@example.test">`)
	w(`<pid file="%s">`, filepath.Join(s.dir, "inspircd.pid"))
	// Nothing is looked up (resolvehostnames="no" below), but should
	// anything be, the query stays on loopback.
	w(`<dns server="127.0.0.1" timeout="1">`)
	w(`<log method="file" type="* -USERINPUT -USEROUTPUT -MODULE" level="default" target="%s">`, filepath.Join(s.dir, "inspircd.log"))
	w(`<bind address="127.0.0.1" port="%d" type="clients">`, ports[0])
	// Connect class: enough connections and channels for busy tests, no
	// DNS or ident lookups; the flood settings follow opts.CommandRate.
	flood := `threshold="10" commandrate="1000" fakelag="yes"`
	if opts.CommandRate > 0 {
		threshold := opts.FloodThreshold
		if threshold <= 0 {
			threshold = 20
		}
		flood = fmt.Sprintf(`threshold="%d" commandrate="%d" fakelag="no"`, threshold, opts.CommandRate)
	}
	w(`<connect name="main" allow="*" timeout="20" pingfreq="120" hardsendq="1M" softsendq="10240" recvq="8K" %s localmax="1000" globalmax="1000" maxchans="100" resolvehostnames="no" useident="no" limit="5000">`, flood)
	defaultModes := "nt"
	if opts.ChanHistory > 0 {
		defaultModes = fmt.Sprintf("ntH %d:1d", opts.ChanHistory)
	}
	w(`<options defaultmodes="%s" prefixquit="Quit: " syntaxhints="no" announcets="yes" hostintopic="yes">`, defaultModes)
	w(`<security hideulines="no" maxtargets="20">`)
	for _, m := range []string{
		"cap", "ircv3", "ircv3_batch", "ircv3_msgid", "ircv3_servertime",
		"ircv3_echomessage", "ircv3_labeledresponse", "ircv3_ctctags",
		"ircv3_accounttag", "ircv3_chghost", "ircv3_capnotify",
		"ircv3_invitenotify", "setname", "namesx", "uhnames", "chghost",
	} {
		w(`<module name="%s">`, m)
	}
	if opts.ChanHistory > 0 {
		w(`<module name="chanhistory">`)
		w(`<chanhistory maxlines="%d" prefixmsg="yes" bots="yes">`, opts.ChanHistory)
	}
	if opts.TLS {
		certFile, keyFile := s.writeCert(t)
		s.TLSAddr = fmt.Sprintf("127.0.0.1:%d", ports[1])
		w(`<module name="ssl_gnutls">`)
		// Client certificates are asked for (not required) so that SASL
		// EXTERNAL can work; m_sslinfo passes their fingerprints on.
		w(`<sslprofile name="tls" provider="gnutls" certfile="%s" keyfile="%s" hash="sha256" requestclientcert="yes">`, certFile, keyFile)
		w(`<module name="sslinfo">`)
		w(`<bind address="127.0.0.1" port="%d" type="clients" sslprofile="tls">`, ports[1])
	}
	linkPassword := "link-" + randomHex(t, 8)
	if opts.SASL {
		w(`<bind address="127.0.0.1" port="%d" type="servers">`, ports[2])
		w(`<module name="spanningtree">`)
		w(`<module name="services_account">`)
		w(`<module name="sasl">`)
		w(`<sasl target="services.test" requiressl="no">`)
		w(`<link name="services.test" ipaddr="127.0.0.1" port="%d" allowmask="127.0.0.0/8" sendpass="%s" recvpass="%s" hidden="no">`, ports[2], linkPassword, linkPassword)
		w(`<uline server="services.test" silent="yes">`)
	}
	conf := filepath.Join(s.dir, "inspircd.conf")
	writeTestFile(t, conf, b.String())
	// We run as root in CI; InspIRCd refuses that without --runasroot.
	s.args = []string{"--nofork", "--runasroot", "--config", conf}

	s.start(t, false)
	if opts.SASL {
		// Started once InspIRCd listens, Atheme links at its first try
		// instead of after its one-second retry delay.
		s.startServices(t, athemeBin, ports[2], linkPassword)
		s.waitReady(t, s.proc, true)
	}
	return s
}

func newIRCServer(t testing.TB, name, serverName, bin string, opts serverOpts) *ircServer {
	s := &ircServer{Name: name, ServerName: serverName, bin: bin, opts: opts, dir: t.TempDir()}
	// Registered first, so it runs last: after the processes are gone and
	// their logs are complete.
	t.Cleanup(func() {
		if t.Failed() {
			s.dumpLogs(t)
		}
	})
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, p := range []*harnessProc{s.proc, s.services} {
			if p != nil {
				if err := p.kill(); err != nil {
					t.Logf("%s: %v", p.name, err)
				}
			}
		}
	})
	return s
}

// startServices writes the Atheme configuration and starts atheme-services,
// which keeps trying to link to InspIRCd every second until it can.
func (s *ircServer) startServices(t testing.TB, bin string, linkPort int, password string) {
	t.Helper()
	dataDir := filepath.Join(s.dir, "atheme")
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(s.dir, "atheme.conf")
	writeTestFile(t, conf, fmt.Sprintf(`loadmodule "modules/protocol/inspircd";
loadmodule "modules/backend/opensex";
loadmodule "modules/crypto/pbkdf2v2";
loadmodule "modules/nickserv/main";
loadmodule "modules/nickserv/register";
loadmodule "modules/nickserv/identify";
loadmodule "modules/nickserv/cert";
loadmodule "modules/saslserv/main";
loadmodule "modules/saslserv/plain";
loadmodule "modules/saslserv/external";
serverinfo {
	name = "services.test";
	desc = "switchboard test services";
	numeric = "00A";
	recontime = 1;
	netname = "TestNet";
	hidehostsuffix = "users.test";
	adminname = "switchboard tests";
	adminemail = "admin@example.test";
	registeremail = "noreply@example.test";
	mta = "/bin/true";
	loglevel = { error; info; admin; network; };
	maxlogins = 100;
	maxusers = 100;
	mdlimit = 30;
	emaillimit = 10;
	emailtime = 300;
	auth = none;
	casemapping = rfc1459;
};
uplink %q {
	host = "127.0.0.1";
	port = %d;
	send_password = %q;
	receive_password = %q;
};
nickserv {
	nick = "NickServ";
	user = "NickServ";
	host = "services.test";
	real = "Nickname Services";
	maxnicks = 5;
	expire = 30;
};
saslserv {
	nick = "SaslServ";
	user = "SaslServ";
	host = "services.test";
	real = "SASL Authentication Agent";
};
general {
	commit_interval = 5;
	ratelimit_uses = 1000;
	ratelimit_period = 1;
	flood_msgs = 1000;
	flood_time = 1;
	kline_time = 7;
	clone_time = 0;
	default_clone_allowed = 1000;
	default_clone_warn = 1000;
	uplink_sendq_limit = 1048576;
	language = "en";
	immune_level = immune;
	exempts { };
};
`, s.ServerName, linkPort, password, password))
	// -n: foreground; -D: database directory (not in 7.2's usage line, but
	// supported); -l/-p keep the log and pid file out of /var.
	args := []string{"-n", "-c", conf, "-D", dataDir,
		"-l", filepath.Join(s.dir, "atheme.log"), "-p", filepath.Join(s.dir, "atheme.pid")}
	// Atheme copies its log to stdout; only stderr is worth keeping.
	p, err := startHarnessProc("atheme-services", filepath.Join(s.dir, "atheme.stderr.log"), true, bin, args...)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.services = p
	s.mu.Unlock()
}

// start runs the server process and waits until it answers CAP LS (and,
// with withSASL, until services have linked and sasl is advertised).
func (s *ircServer) start(t testing.TB, withSASL bool) {
	t.Helper()
	p, err := startHarnessProc(s.Name, filepath.Join(s.dir, s.Name+".console.log"), false, s.bin, s.args...)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	s.waitReady(t, p, withSASL)
}

func (s *ircServer) waitReady(t testing.TB, p *harnessProc, withSASL bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("%s exited while starting: %v (logs in %s)", s.Name, p.err, s.dir)
		default:
		}
		poll := 25 * time.Millisecond
		caps, err := probeCapLS(s.Addr, nil)
		switch {
		case err != nil:
			last = err
		case withSASL && !hasCapName(caps, "sasl"):
			// Atheme links within a second of the server listening.
			last = errors.New("services have not linked yet (no sasl in CAP LS)")
			poll = 100 * time.Millisecond
		default:
			if s.TLSAddr != "" {
				if _, err := probeCapLS(s.TLSAddr, s.TLSConfig()); err != nil {
					last = fmt.Errorf("TLS: %w", err)
					break
				}
			}
			s.CapLS = caps
			return
		}
		time.Sleep(poll)
	}
	t.Fatalf("%s not ready after 20s: %v", s.Name, last)
}

// Kill stops the IRC server at once with SIGKILL and waits for it to exit.
// Services (Atheme) keep running and link again after Restart.
func (s *ircServer) Kill() {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p != nil {
		_ = p.kill()
	}
}

// Restart starts the server again (killing it first if it still runs) on
// the same ports with the same configuration, and waits until it is ready.
func (s *ircServer) Restart(t testing.TB) {
	t.Helper()
	s.Kill()
	s.start(t, s.opts.SASL)
}

// RegisterAccount registers account with NickServ (SASL servers only), from
// a throwaway connection using account as its nick, and waits for NickServ
// to confirm. Atheme wants a password of at least 5 characters, without
// spaces, that differs from the account name.
func (s *ircServer) RegisterAccount(t testing.TB, account, password string) {
	t.Helper()
	if !s.opts.SASL {
		t.Fatalf("RegisterAccount: %s was started without SASL (services)", s.Name)
	}
	if strings.ContainsAny(password, " \r\n") {
		t.Fatalf("RegisterAccount: NickServ cannot take a password with spaces: %q", password)
	}
	c := dialIRC(t, s.Addr, account)
	defer c.Close()
	c.Send(t, fmt.Sprintf("PRIVMSG NickServ :REGISTER %s %s@example.test", password, account))
	m := c.Expect(t, 10*time.Second, func(m ircmsg.Message) bool {
		return m.Command == "NOTICE" && strings.EqualFold(m.Nick(), "NickServ")
	})
	if text := m.Params[len(m.Params)-1]; !strings.Contains(text, "is now registered") {
		t.Fatalf("NickServ did not register %s: %q", account, text)
	}
}

// AddCertFingerprint (SASL servers only) identifies to NickServ as account
// from a throwaway connection and adds fingerprint (lower-case hex SHA-256
// of a client certificate's DER, see newClientCert) to the account, so that
// a TLS client presenting that certificate can log in with SASL EXTERNAL.
func (s *ircServer) AddCertFingerprint(t testing.TB, account, password, fingerprint string) {
	t.Helper()
	if !s.opts.SASL {
		t.Fatalf("AddCertFingerprint: %s was started without SASL (services)", s.Name)
	}
	c := dialIRC(t, s.Addr, "certadd"+randomHex(t, 3))
	defer c.Close()
	fromNickServ := func(m ircmsg.Message) bool {
		return m.Command == "NOTICE" && strings.EqualFold(m.Nick(), "NickServ")
	}
	c.Send(t, fmt.Sprintf("PRIVMSG NickServ :IDENTIFY %s %s", account, password))
	if m := c.Expect(t, 10*time.Second, fromNickServ); !strings.Contains(m.Params[len(m.Params)-1], "identified for") {
		t.Fatalf("NickServ IDENTIFY %s: %q", account, m.Params[len(m.Params)-1])
	}
	c.Send(t, "PRIVMSG NickServ :CERT ADD "+fingerprint)
	if m := c.Expect(t, 10*time.Second, fromNickServ); !strings.Contains(m.Params[len(m.Params)-1], "Added fingerprint") {
		t.Fatalf("NickServ CERT ADD for %s: %q", account, m.Params[len(m.Params)-1])
	}
}

// newClientCert makes a self-signed ECDSA client certificate and returns it
// with its fingerprint as servers and NickServ show it (lower-case hex
// SHA-256 of the DER).
func newClientCert(t testing.TB, name string) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, hex.EncodeToString(sum[:])
}

// TLSConfig trusts exactly the server's test certificate.
func (s *ircServer) TLSConfig() *tls.Config {
	pool := x509.NewCertPool()
	if cert, err := x509.ParseCertificate(s.CertDER); err == nil {
		pool.AddCert(cert)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// writeCert makes the server's certificate with the daemon's own
// generator (for the server name, localhost and the loopback addresses)
// and records its DER and fingerprint for the tests.
func (s *ircServer) writeCert(t testing.TB) (certFile, keyFile string) {
	t.Helper()
	certFile = filepath.Join(s.dir, "cert.pem")
	keyFile = filepath.Join(s.dir, "key.pem")
	cert, err := selfsigned.LoadOrCreate(certFile, keyFile, s.ServerName)
	if err != nil {
		t.Fatal(err)
	}
	s.CertDER = cert.Certificate[0]
	sum := sha256.Sum256(s.CertDER)
	s.Fingerprint = hex.EncodeToString(sum[:])
	return certFile, keyFile
}

// dumpLogs prints the tail of every log in the server's directory.
func (s *ircServer) dumpLogs(t testing.TB) {
	logs, _ := filepath.Glob(filepath.Join(s.dir, "*.log"))
	for _, name := range logs {
		data, err := os.ReadFile(name)
		if err != nil || len(data) == 0 {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > 150 {
			lines = append([]string{fmt.Sprintf("[... %d earlier lines]", len(lines)-150)}, lines[len(lines)-150:]...)
		}
		t.Logf("--- %s %s ---\n%s", s.Name, filepath.Base(name), strings.Join(lines, "\n"))
	}
}

// harnessProc is one child process whose output goes to a log file.
type harnessProc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited
	err  error         // its exit status, valid after done
}

func startHarnessProc(name, logPath string, discardStdout bool, bin string, args ...string) (*harnessProc, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = logFile
	if !discardStdout {
		cmd.Stdout = logFile
	}
	// Take the server down with us if the test binary dies (ngircd, which
	// drops root for nobody, loses this; test cleanup still kills it).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &harnessProc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// kill sends SIGKILL and waits for the process to exit.
func (p *harnessProc) kill() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.name, p.cmd.Process.Pid)
	}
}

// probeCapLS connects, asks CAP LS 302 and returns the advertised
// capabilities (all lines joined), then quits.
func probeCapLS(addr string, tlsConf *tls.Config) (string, error) {
	d := &net.Dialer{Timeout: time.Second}
	var conn net.Conn
	var err error
	if tlsConf != nil {
		conn, err = tls.DialWithDialer(d, "tcp", addr, tlsConf)
	} else {
		conn, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("CAP LS 302\r\n")); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	var caps []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", fmt.Errorf("reading CAP LS: %w", err)
		}
		m, err := ircmsg.ParseLine(strings.TrimRight(line, "\r\n"))
		if err != nil || m.Command != "CAP" || len(m.Params) < 3 || m.Params[1] != "LS" {
			continue
		}
		caps = append(caps, m.Params[len(m.Params)-1])
		if len(m.Params) == 3 { // no "*": the last line
			_, _ = conn.Write([]byte("QUIT\r\n"))
			return strings.Join(strings.Fields(strings.Join(caps, " ")), " "), nil
		}
	}
}

// hasCapName reports whether a CAP LS list has name, with or without value.
func hasCapName(caps, name string) bool {
	for _, c := range strings.Fields(caps) {
		if c == name || strings.HasPrefix(c, name+"=") {
			return true
		}
	}
	return false
}

// findServerBinary finds an installed daemon (they live in /usr/sbin, which
// may not be on PATH) or skips the test.
func findServerBinary(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	t.Skipf("%s is not installed (.ci/run installs it from Debian)", name)
	return ""
}

func writeTestFile(t testing.TB, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
