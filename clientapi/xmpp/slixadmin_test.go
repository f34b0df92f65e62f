package xmpp

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSlixAdmin runs the ad-hoc commands and stores a bookmark from a real
// client: slixmpp's XEP-0050 and XEP-0060 plugins (testdata/slixadmin.py).
func TestSlixAdmin(t *testing.T) {
	if out, err := exec.Command(slixPython, "-c", "import slixmpp").CombinedOutput(); err != nil {
		t.Skipf("%s cannot import slixmpp: %v: %s", slixPython, err, bytes.TrimSpace(out))
	}
	p := startAdhocPort(t)
	_, port, _ := net.SplitHostPort(p.addr)
	script, err := filepath.Abs(filepath.Join("testdata", "slixadmin.py"))
	if err != nil {
		t.Fatal(err)
	}
	room := "#go@libera." + testDomain
	cmd := exec.Command(slixPython, "-u", script, "--jid", "alice@"+testDomain, "--password", p.password,
		"--port", port, "--room", room)
	cmd.Env = slixEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	steps := make(map[string]map[string]any)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var ev map[string]any
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				steps[ev["step"].(string)] = ev
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(90 * time.Second):
		cmd.Process.Kill()
		<-done
	}
	cmd.Wait()
	defer func() {
		if t.Failed() {
			tail := stderr.String()
			if len(tail) > 20000 {
				tail = tail[len(tail)-20000:]
			}
			t.Logf("slixadmin stderr (tail):\n%s", tail)
		}
	}()
	if e, ok := steps["error"]; ok {
		t.Fatalf("slixadmin: %v", e["text"])
	}
	if _, ok := steps["done"]; !ok {
		t.Fatalf("slixadmin did not finish; steps %v", steps)
	}
	if nodes, _ := json.Marshal(steps["commands"]["nodes"]); !strings.Contains(string(nodes), "switchboard:search") ||
		strings.Contains(string(nodes), "switchboard:add-user") {
		t.Errorf("commands %s", nodes)
	}
	list := steps["list"]
	if items, _ := json.Marshal(list["items"]); list["status"] != "completed" || !strings.Contains(string(items), `"libera"`) {
		t.Errorf("list-networks %v", list)
	}
	if bad := steps["status_bad"]; bad["status"] != "executing" || !strings.HasPrefix(bad["note"].(string), "show: ") {
		t.Errorf("a bad show %v", bad)
	}
	if ok := steps["status_ok"]; ok["status"] != "completed" {
		t.Errorf("set-status %v", ok)
	}
	if c := steps["cancel"]; c["status"] != "canceled" {
		t.Errorf("cancel %v", c)
	}
	if pub := steps["publish"]; pub["id"] != room {
		t.Errorf("publish %v", pub)
	}
	items, _ := json.Marshal(steps["items"]["items"])
	if want := `[{"autojoin":"true","id":"` + room + `","name":"Go","nick":"alice"}]`; string(items) != want {
		t.Errorf("bookmarks %s, want %s", items, want)
	}
}
