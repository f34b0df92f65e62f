package xmpp

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
)

// TestMelliumSCRAMLogin logs in with mellium as the client: SCRAM-SHA-256
// with tls-exporter channel binding, over STARTTLS and over direct TLS.
// (slixmpp binds only with tls-unique, which TLS 1.3 lacks, so it ends up
// on PLAIN; see TestSlixmppLoginRosterCarbons.)
func TestMelliumSCRAMLogin(t *testing.T) {
	p := startPort(t)
	for _, direct := range []bool{false, true} {
		name := map[bool]string{false: "starttls", true: "direct-tls"}[direct]
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			addr := p.addr
			if direct {
				addr = p.directAddr
			}
			nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			tlsCfg := &tls.Config{InsecureSkipVerify: true, ServerName: testDomain}
			features := []xmpp.StreamFeature{
				xmpp.SASL("", p.password, sasl.ScramSha256Plus, sasl.ScramSha256, sasl.ScramSha1Plus, sasl.ScramSha1),
				xmpp.BindResource(),
			}
			var rw net.Conn = nc
			if direct {
				rw = tls.Client(nc, tlsCfg)
			} else {
				features = append([]xmpp.StreamFeature{xmpp.StartTLS(tlsCfg)}, features...)
			}
			origin := jid.MustParse("alice@" + testDomain + "/mellium-" + name)
			sess, err := xmpp.NewClientSession(ctx, origin, rw, features...)
			if err != nil {
				t.Fatalf("mellium could not log in: %v", err)
			}
			defer sess.Close()
			// BindResource asks the server to pick the resource.
			if got := sess.LocalAddr(); got.Bare().String() != "alice@"+testDomain || got.Resourcepart() == "" {
				t.Errorf("bound as %s", got)
			}
			if !p.logged("XMPP login", "user=alice", "mechanism=SCRAM-SHA-256-PLUS") {
				t.Error("the login did not use SCRAM-SHA-256-PLUS")
			}
		})
	}
}
