package httpapi

import (
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

func sleepMs(n int) { time.Sleep(time.Duration(n) * time.Millisecond) }

// waitStatus waits until the bridge was last told show.
func waitStatus(t *testing.T, b *fakeBridge, show core.Show, text string) {
	t.Helper()
	for range 400 {
		if st, ok := b.lastStatus(); ok && st.Show == show && st.Text == text {
			return
		}
		sleepMs(5)
	}
	st, _ := b.lastStatus()
	t.Fatalf("network status %+v, want %v %q", st, show, text)
}

func TestPresence(t *testing.T) {
	e := newEnv(t)
	_, tok := e.user("alice")
	_, b := e.network(tok, "lab")
	// No device attached: away (AwayWhenDetached in newEnv).
	waitStatus(t, b, core.ShowAway, "")
	e.mustDo("PUT", "/api/v1/presence", tok, map[string]string{"show": "dnd", "text": "in a meeting"}, 204, nil)
	waitStatus(t, b, core.ShowDND, "in a meeting")
	e.wantProblem(e.do("PUT", "/api/v1/presence", tok, map[string]string{"show": "offline"}), 400, "show")
	e.wantProblem(e.do("PUT", "/api/v1/presence", tok, map[string]string{"show": "sleepy"}), 400, "show")
	e.mustDo("DELETE", "/api/v1/presence", tok, nil, 204, nil)
	waitStatus(t, b, core.ShowAway, "")
}
