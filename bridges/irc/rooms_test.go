package irc

import "testing"

// TestCheckChannelName: names that would turn a JOIN into something else
// (several channels, part-all, a second parameter) are refused.
func TestCheckChannelName(t *testing.T) {
	for _, ok := range []string{"#go", "&local", "##go-nuts", "#ünïcode"} {
		if err := checkChannelName(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "0", "#a,0", "#a b", "#a\r\nQUIT", "#bell\a", "#nul\x00"} {
		if err := checkChannelName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
