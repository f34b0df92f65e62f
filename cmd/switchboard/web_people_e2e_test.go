package main

import (
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestWebPagePeople: the web page's people view, in a real browser,
// against three users of one daemon: alice adds bob and asks for his
// presence, bob allows through the API and goes away, and alice's page
// shows it live; carol's request shows on alice's page and its Allow
// button lets carol see alice; alice joins a room and writes to an
// address from the page.
func TestWebPagePeople(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	d, addr := startDaemon(t, dir)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.logText())
		}
	})
	alice := loginAPI(t, dir, addr, "alice", "pw-a")
	bob := loginAPI(t, dir, addr, "bob", "pw-b")
	carol := loginAPI(t, dir, addr, "carol", "pw-c")
	aliceFed, bobFed, carolFed := waitFedNetwork(t, alice), waitFedNetwork(t, bob), waitFedNetwork(t, carol)

	// The browser's time budget starts once the daemon is ready.
	ctx := browser(t)

	p := &page{t: t, ctx: ctx, dir: screenshots(t)}
	problems := consoleProblems(ctx)
	p.do(chromedp.Navigate("https://" + addr + "/"))
	p.do(chromedp.WaitVisible(chromedp.ID("login-form")),
		chromedp.SendKeys(chromedp.CSS(`#login-form [name=username]`), "alice"),
		chromedp.SendKeys(chromedp.CSS(`#login-form [name=password]`), "pw-a"),
		chromedp.Click(chromedp.CSS(`#login-form button`)))
	p.until("the list", `!!document.querySelector('#conv-list [data-network]')`)
	p.do(chromedp.Click(chromedp.ID("nav-contacts")))
	p.until("the people view", `!document.getElementById('view-contacts').hidden`)
	var offered []string
	p.eval(`[...document.querySelector('#contact-form select').options].map((o) => o.value)`, &offered)
	if !slices.Equal(offered, []string{fmt.Sprint(aliceFed)}) {
		t.Fatalf("the contact form offers networks %v, want only the fed network %d", offered, aliceFed)
	}

	// Alice adds bob and asks for his presence.
	p.do(chromedp.SendKeys(chromedp.CSS(`#contact-form [name=addr]`), "bob@localhost"),
		chromedp.Click(chromedp.CSS(`#contact-form button`)))
	bobItem := `document.querySelector('#contact-lists li.contact[data-addr="bob@localhost"]')`
	p.until("bob on alice's list, asked", bobItem+`?.textContent.includes('asked to see theirs')`)
	waitFor(t, func() bool {
		_, pending := contactsOf(t, bob, bobFed)
		return slices.Contains(pending, "alice@localhost")
	})
	bob.do("POST", "/api/v1/networks/"+fmt.Sprint(bobFed)+"/contacts/"+url.PathEscape("alice@localhost")+"/subscription",
		map[string]string{"action": "allow"}, 202, nil)
	bob.do("PUT", "/api/v1/presence", map[string]string{"show": "away", "text": "lunch"}, 204, nil)
	p.until("bob away on alice's page", bobItem+`?.querySelector('.show')?.textContent === 'away – lunch'`)
	p.until("bob's presence shared", bobItem+`?.textContent.includes('you see their presence')`)
	p.shot("people-1-bob-away")

	// Carol asks; alice allows on the page.
	carol.do("PUT", "/api/v1/networks/"+fmt.Sprint(carolFed)+"/contacts/"+url.PathEscape("alice@localhost"), map[string]string{}, 204, nil)
	carol.do("POST", "/api/v1/networks/"+fmt.Sprint(carolFed)+"/contacts/"+url.PathEscape("alice@localhost")+"/subscription",
		map[string]string{"action": "ask"}, 202, nil)
	request := `document.querySelector('#contact-lists li.request[data-addr="carol@localhost"]')`
	p.until("carol's request on alice's page", `!!`+request)
	p.shot("people-2-request")
	p.do(chromedp.Click(chromedp.CSS(`#contact-lists li.request[data-addr="carol@localhost"] button.allow`)))
	p.until("the request answered", `!`+request)
	waitFor(t, func() bool {
		cs, _ := contactsOf(t, carol, carolFed)
		sub := cs["alice@localhost"].Subscription
		return sub == "to" || sub == "both"
	})

	// A room, joined from the page, and bob's line in it.
	p.do(chromedp.SendKeys(chromedp.CSS(`#room-form [name=room]`), "#lobby@localhost"),
		chromedp.Click(chromedp.CSS(`#room-form button`)))
	p.until("the join answered", `document.querySelector('#room-form [name=room]').value === ''`)
	var joinErr string
	p.eval(`document.getElementById('contacts-error').textContent`, &joinErr)
	if joinErr != "" {
		t.Fatalf("joining the room from the page: %s", joinErr)
	}
	bob.do("PUT", "/api/v1/networks/"+fmt.Sprint(bobFed)+"/rooms/"+url.PathEscape("#lobby@localhost"), nil, 204, nil)
	bob.do("POST", "/api/v1/networks/"+fmt.Sprint(bobFed)+"/messages", map[string]string{"to": "#lobby@localhost", "body": "welcome to the lobby"}, 201, nil)
	p.until("the room in alice's list", `[...document.querySelectorAll('#conv-list .conv')].some((a) => a.textContent.includes('#lobby@localhost') && a.textContent.includes('welcome to the lobby'))`)
	// Opened, the room's header counts its members.
	p.do(chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('#conv-list .conv')].find((a) => a.textContent.includes('#lobby@localhost')).click()`))
	p.until("the room's members in its header", `document.getElementById('chat-sub').textContent.includes('2 in the room')`)
	p.shot("people-3-room")

	// Writing to an address no conversation has yet opens the new one.
	p.do(chromedp.Click(chromedp.ID("nav-contacts")))
	p.until("the people view again", `!document.getElementById('view-contacts').hidden`)
	p.do(chromedp.SendKeys(chromedp.CSS(`#write-form [name=to]`), "carol@localhost"),
		chromedp.SendKeys(chromedp.CSS(`#write-form [name=body]`), "hello carol, from the page"),
		chromedp.Click(chromedp.CSS(`#write-form button`)))
	p.until("the new conversation open", `!document.getElementById('view-chat').hidden && document.getElementById('messages').textContent.includes('hello carol, from the page')`)
	p.shot("people-4-written")
	waitFor(t, func() bool {
		var list struct {
			Conversations []struct {
				Last *struct{ Body string } `json:"last_message"`
			}
		}
		carol.do("GET", "/api/v1/conversations", nil, 200, &list)
		for _, c := range list.Conversations {
			if c.Last != nil && c.Last.Body == "hello carol, from the page" {
				return true
			}
		}
		return false
	})

	if ps := problems(); len(ps) > 0 {
		t.Errorf("the browser reported problems:\n%s", ps)
	}
}
