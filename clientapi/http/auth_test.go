package httpapi

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
)

func TestLoginAndTokens(t *testing.T) {
	e := newEnv(t)
	_, tok := e.user("alice")
	if !strings.HasPrefix(tok, tokenPrefix) {
		t.Fatalf("token %q lacks the prefix", tok)
	}
	// The secret is not in the database, only its hash.
	if _, err := e.st.TokenByHash(t.Context(), []byte(tok)); err == nil {
		t.Fatal("the token is stored in the clear")
	}
	e.wantProblem(e.do("POST", "/api/v1/tokens", "", map[string]any{"username": "alice", "password": "nope"}), 401, "")
	e.wantProblem(e.do("POST", "/api/v1/tokens", "", map[string]any{"username": "nobody", "password": "x"}), 401, "")
	e.wantProblem(e.do("POST", "/api/v1/tokens", "", map[string]any{"username": "alice"}), 400, "password")
	e.wantProblem(e.do("POST", "/api/v1/tokens", "", map[string]any{"username": "alice", "password": "pw-alice", "expires_in": -1}), 400, "expires_in")

	var second loginResponse
	e.mustDo("POST", "/api/v1/tokens", "", map[string]any{"username": "alice", "password": "pw-alice", "name": "phone", "expires_in": 60}, 201, &second)
	var list struct{ Tokens []tokenJSON }
	e.mustDo("GET", "/api/v1/tokens", tok, nil, 200, &list)
	if len(list.Tokens) != 2 || !list.Tokens[0].Current || list.Tokens[1].Current || list.Tokens[1].Name != "phone" ||
		math.Abs(list.Tokens[1].Expires.Sub(list.Tokens[1].Created).Seconds()-60) > 1 {
		t.Fatalf("tokens: %+v", list.Tokens)
	}
	// No token, a malformed one, a revoked one: 401 naming the header.
	e.wantProblem(e.do("GET", "/api/v1/tokens", "", nil), 401, "Authorization")
	e.wantProblem(e.do("GET", "/api/v1/tokens", "garbage", nil), 401, "Authorization")
	e.mustDo("DELETE", fmt.Sprintf("/api/v1/tokens/%d", second.ID), tok, nil, 204, nil)
	e.wantProblem(e.do("GET", "/api/v1/tokens", second.Token, nil), 401, "Authorization")
	e.wantProblem(e.do("DELETE", fmt.Sprintf("/api/v1/tokens/%d", second.ID), tok, nil), 404, "")
	e.wantProblem(e.do("DELETE", "/api/v1/tokens/x", tok, nil), 400, "id")
}

func TestLoginLimited(t *testing.T) {
	e := newEnv(t)
	e.user("alice")
	// Three failures lock the account (MaxLoginFailures in newEnv), even
	// for the right password, and the answer says when to come back.
	for range 3 {
		e.wantProblem(e.do("POST", "/api/v1/tokens", "", map[string]any{"username": "alice", "password": "guess"}), 401, "")
	}
	resp := e.do("POST", "/api/v1/tokens", "", map[string]any{"username": "alice", "password": "pw-alice"})
	if resp.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	e.wantProblem(resp, http.StatusTooManyRequests, "")
	// Another account from the same address is not locked (the address
	// bucket allows ten).
	e.user("bob")
}
