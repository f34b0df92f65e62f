package xmpp

import (
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/clientapi/upload"
)

// uploadRig is the daemon's upload service on a real TLS listener, as
// the daemon mounts it on its HTTPS port, with files of at most 1 MiB.
type uploadRig struct {
	srv    *httptest.Server
	svc    *upload.Service
	caFile string // the listener's certificate, for clients to trust
}

func startUploads(t *testing.T) *uploadRig {
	t.Helper()
	r := &uploadRig{srv: httptest.NewUnstartedServer(nil)}
	r.srv.StartTLS()
	t.Cleanup(r.srv.Close)
	svc, err := upload.New(upload.Config{Dir: t.TempDir(), BaseURL: r.srv.URL, MaxFileSize: 1 << 20, Quota: 4 << 20, Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	r.svc = svc
	r.srv.Config.Handler = svc.Handler()
	r.caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(r.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestHTTPFileUpload: the server's disco#info names the upload service
// and its size limit; a slot request gets a slot whose PUT stores the
// file and whose GET serves it; a file over the limit and a bad name are
// refused with XEP-0363's errors.
func TestHTTPFileUpload(t *testing.T) {
	ups := startUploads(t)
	p := startPort(t, func(c *Config) { c.Uploads = ups.svc })
	c := loginRaw(t, p, "phone")

	c.send("<iq type='get' id='d1' to='" + testDomain + "'><query xmlns='" + nsDiscoInfo + "'/></iq>")
	info := c.expect("disco#info", func(e *element) bool { return e.attr("id") == "d1" }).String()
	for _, want := range []string{"category='store'", "type='file'", "var='" + nsUpload + "'", "var='max-file-size'", "<value>1048576</value>"} {
		if !strings.Contains(info, want) {
			t.Errorf("disco#info lacks %s: %s", want, info)
		}
	}

	c.send("<iq type='get' id='u1' to='" + testDomain + "'><request xmlns='" + nsUpload + "' filename='notes.txt' size='11' content-type='text/plain'/></iq>")
	res := c.expect("the slot", func(e *element) bool { return e.attr("id") == "u1" })
	slot := res.child(nsUpload, "slot")
	if res.attr("type") != "result" || slot == nil {
		t.Fatalf("slot request answered %v", res)
	}
	put, get := slot.child(nsUpload, "put"), slot.child(nsUpload, "get")
	req, err := http.NewRequest("PUT", put.attr("url"), strings.NewReader("hello files"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/plain")
	for _, h := range put.Children {
		req.Header.Set(h.attr("name"), h.Text)
	}
	client := ups.srv.Client()
	if resp, err := client.Do(req); err != nil || resp.StatusCode != 201 {
		t.Fatalf("PUT to the slot: %v %v", resp, err)
	}
	resp, err := client.Get(get.attr("url"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hello files" {
		t.Errorf("GET of the upload: %d %q", resp.StatusCode, body)
	}

	c.send("<iq type='get' id='u2' to='" + testDomain + "'><request xmlns='" + nsUpload + "' filename='big.iso' size='2000000'/></iq>")
	big := c.expect("the refusal", func(e *element) bool { return e.attr("id") == "u2" })
	if errEl := big.child(nsClient, "error"); big.attr("type") != "error" || errEl.child(nsStanzas, "not-acceptable") == nil ||
		errEl.child(nsUpload, "file-too-large").childText(nsUpload, "max-file-size") != "1048576" {
		t.Errorf("a file over the limit answered %v", big)
	}
	c.send("<iq type='get' id='u3' to='" + testDomain + "'><request xmlns='" + nsUpload + "' filename='../x' size='2'/></iq>")
	if bad := c.expect("the refusal", func(e *element) bool { return e.attr("id") == "u3" }); bad.child(nsClient, "error").child(nsStanzas, "bad-request") == nil {
		t.Errorf("a name with a slash answered %v", bad)
	}
	c.send("<iq type='get' id='u4' to='" + testDomain + "'><request xmlns='" + nsUpload + "' filename='x' size='many'/></iq>")
	if bad := c.expect("the refusal", func(e *element) bool { return e.attr("id") == "u4" }); bad.child(nsClient, "error").child(nsStanzas, "bad-request") == nil {
		t.Errorf("a size that is not a number answered %v", bad)
	}
}

// TestNoUploadsWithoutService: a port without an upload service offers
// none, and its capabilities hash differs from one that does.
func TestNoUploadsWithoutService(t *testing.T) {
	p := startPort(t)
	c := loginRaw(t, p, "phone")
	c.send("<iq type='get' id='d1' to='" + testDomain + "'><query xmlns='" + nsDiscoInfo + "'/></iq>")
	if info := c.expect("disco#info", func(e *element) bool { return e.attr("id") == "d1" }).String(); strings.Contains(info, nsUpload) {
		t.Errorf("disco#info offers uploads without a service: %s", info)
	}
	c.send("<iq type='get' id='u1' to='" + testDomain + "'><request xmlns='" + nsUpload + "' filename='a' size='1'/></iq>")
	if res := c.expect("the answer", func(e *element) bool { return e.attr("id") == "u1" }); res.child(nsClient, "error").child(nsStanzas, "service-unavailable") == nil {
		t.Errorf("a slot request answered %v", res)
	}
	with := startPort(t, func(c *Config) { c.Uploads = startUploads(t).svc })
	if with.srv.capsVer == p.srv.capsVer {
		t.Error("the caps hash does not change with the upload service's identity, feature and form")
	}
}

// TestSlixmppUploadsAFile: slixmpp's own XEP-0363 client finds the
// service on the server's address, gets a slot and PUTs the file over
// HTTPS (aiohttp); the address it is given serves the file, and sent to
// an IRC contact it reaches the network as a link.
func TestSlixmppUploadsAFile(t *testing.T) {
	ups := startUploads(t)
	p := startPort(t, func(c *Config) { c.Uploads = ups.svc })
	phone := startSlix(t, slixOpts{JID: "alice@" + testDomain, Password: p.password, Port: portOf(t, p.addr), Resource: "phone",
		Env: []string{"SSL_CERT_FILE=" + ups.caFile}})
	phone.Expect(t, slixWait, slixEv("session_start"))
	phone.Do(t, map[string]any{"cmd": "upload", "filename": "menu.txt", "content_type": "text/plain", "data": "soup, bread, cheese"})
	ev := phone.Expect(t, slixWait, func(ev map[string]any) bool { return ev["cmd"] == "upload" })
	url, _ := ev["url"].(string)
	if ev["event"] != "uploaded" || !strings.HasPrefix(url, ups.srv.URL+"/upload/") || ev["max_file_size"] != float64(1<<20) {
		t.Fatalf("slixmpp's upload: %v", ev)
	}
	resp, err := ups.srv.Client().Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "soup, bread, cheese" {
		t.Errorf("GET %s: %d %q", url, resp.StatusCode, body)
	}

	phone.Do(t, map[string]any{"cmd": "send", "to": "bob@libera." + testDomain, "body": url, "type": "chat"})
	select {
	case m := <-p.sent:
		if m.Body != url {
			t.Errorf("the network got %q, want the link %q", m.Body, url)
		}
	case <-time.After(slixWait):
		t.Fatal("the link never reached the network")
	}
}
