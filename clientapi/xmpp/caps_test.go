package xmpp

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/xml"
	"sort"
	"strings"
	"testing"
)

// xep0115Ver computes the XEP-0115 §5.1/§5.4 verification string of a
// disco#info <query/> from its XML, independently of the port's code:
// identities sorted by category, type, xml:lang, name; features sorted;
// then each extended information form (sorted by FORM_TYPE, forms whose
// FORM_TYPE is missing or not hidden skipped) as its FORM_TYPE, then its
// other fields sorted by var, each with its values sorted.
func xep0115Ver(t *testing.T, query string) string {
	t.Helper()
	var q struct {
		Identities []struct {
			Category string `xml:"category,attr"`
			Type     string `xml:"type,attr"`
			Lang     string `xml:"http://www.w3.org/XML/1998/namespace lang,attr"`
			Name     string `xml:"name,attr"`
		} `xml:"http://jabber.org/protocol/disco#info identity"`
		Features []struct {
			Var string `xml:"var,attr"`
		} `xml:"http://jabber.org/protocol/disco#info feature"`
		Forms []struct {
			Fields []struct {
				Var    string   `xml:"var,attr"`
				Type   string   `xml:"type,attr"`
				Values []string `xml:"jabber:x:data value"`
			} `xml:"jabber:x:data field"`
		} `xml:"jabber:x:data x"`
	}
	if err := xml.Unmarshal([]byte(query), &q); err != nil {
		t.Fatalf("parsing the disco#info answer: %v", err)
	}
	var b strings.Builder
	ids := q.Identities
	sort.Slice(ids, func(i, j int) bool {
		a, c := ids[i], ids[j]
		if a.Category != c.Category {
			return a.Category < c.Category
		}
		if a.Type != c.Type {
			return a.Type < c.Type
		}
		if a.Lang != c.Lang {
			return a.Lang < c.Lang
		}
		return a.Name < c.Name
	})
	for _, id := range ids {
		b.WriteString(id.Category + "/" + id.Type + "/" + id.Lang + "/" + id.Name + "<")
	}
	var feats []string
	for _, f := range q.Features {
		feats = append(feats, f.Var)
	}
	sort.Strings(feats)
	for _, f := range feats {
		b.WriteString(f + "<")
	}
	type form struct {
		formType string
		text     string
	}
	var forms []form
	for _, x := range q.Forms {
		formType, hidden := "", false
		fields := x.Fields
		sort.Slice(fields, func(i, j int) bool { return fields[i].Var < fields[j].Var })
		var fb strings.Builder
		for _, f := range fields {
			if f.Var == "FORM_TYPE" {
				if len(f.Values) > 0 {
					formType = f.Values[0]
				}
				hidden = f.Type == "hidden"
				continue
			}
			fb.WriteString(f.Var + "<")
			vs := append([]string(nil), f.Values...)
			sort.Strings(vs)
			for _, v := range vs {
				fb.WriteString(v + "<")
			}
		}
		if formType != "" && hidden {
			forms = append(forms, form{formType, formType + "<" + fb.String()})
		}
	}
	sort.Slice(forms, func(i, j int) bool { return forms[i].formType < forms[j].formType })
	for _, f := range forms {
		b.WriteString(f.text)
	}
	sum := sha1.Sum([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// TestXEP0115VerOfTheXEPsExamples checks the independent computation
// against XEP-0115's own examples (§5.2 simple, §5.3 complex).
func TestXEP0115VerOfTheXEPsExamples(t *testing.T) {
	simple := `<query xmlns='http://jabber.org/protocol/disco#info'>
  <identity category='client' name='Exodus 0.9.1' type='pc'/>
  <feature var='http://jabber.org/protocol/caps'/>
  <feature var='http://jabber.org/protocol/disco#info'/>
  <feature var='http://jabber.org/protocol/disco#items'/>
  <feature var='http://jabber.org/protocol/muc'/>
</query>`
	if got := xep0115Ver(t, simple); got != "QgayPKawpkPSDYmwT/WM94uAlu0=" {
		t.Errorf("simple example: %s", got)
	}
	complex := `<query xmlns='http://jabber.org/protocol/disco#info'>
  <identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>
  <identity xml:lang='el' category='client' name='Ψ 0.11' type='pc'/>
  <feature var='http://jabber.org/protocol/caps'/>
  <feature var='http://jabber.org/protocol/disco#info'/>
  <feature var='http://jabber.org/protocol/disco#items'/>
  <feature var='http://jabber.org/protocol/muc'/>
  <x xmlns='jabber:x:data' type='result'>
    <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>
    <field var='ip_version'><value>ipv4</value><value>ipv6</value></field>
    <field var='os'><value>Mac</value></field>
    <field var='os_version'><value>10.5.1</value></field>
    <field var='software'><value>Psi</value></field>
    <field var='software_version'><value>0.11</value></field>
  </x>
</query>`
	if got := xep0115Ver(t, complex); got != "q07IKJEyjvHSyhy//CH0CxmKi8w=" {
		t.Errorf("complex example: %s", got)
	}
}

// TestCapsVerMatchesDiscoInfo: the ver the stream features advertise is
// the XEP-0115 hash of what disco#info on the caps node answers, with
// and without the upload service's identity and form.
func TestCapsVerMatchesDiscoInfo(t *testing.T) {
	for _, withUploads := range []bool{false, true} {
		p := startPort(t, func(c *Config) {
			if withUploads {
				c.Uploads = startUploads(t).svc
			}
		})
		c := dialRaw(t, p.addr, false)
		c.openStream()
		c.startTLS()
		c.openStream()
		if r := c.authPlain("alice", p.password); r == nil || r.Name.Local != "success" {
			t.Fatalf("PLAIN login answered %v", r)
		}
		c.dec = xml.NewDecoder(c.conn)
		caps := c.openStream().child(nsCaps, "c")
		if caps == nil || caps.attr("hash") != "sha-1" || caps.attr("ver") == "" {
			t.Fatalf("stream features advertise caps %v", caps)
		}
		c.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource></bind></iq>")
		c.next()
		c.send("<iq type='get' id='d1' to='" + testDomain + "'><query xmlns='" + nsDiscoInfo + "' node='" +
			caps.attr("node") + "#" + caps.attr("ver") + "'/></iq>")
		q := c.expect("disco#info", func(e *element) bool { return e.attr("id") == "d1" }).child(nsDiscoInfo, "query")
		if q == nil {
			t.Fatal("no disco#info answer")
		}
		if got := xep0115Ver(t, q.String()); got != caps.attr("ver") {
			t.Errorf("uploads %v: stream features advertise ver %s; disco#info hashes to %s: %s", withUploads, caps.attr("ver"), got, q.String())
		}
	}
}
