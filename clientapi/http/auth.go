package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchboard/switchboard/core"
)

// tokenPrefix marks the API's tokens so that secret scanners and people
// can recognise one.
const tokenPrefix = "swb_"

// maxTokenTTL caps what a login may ask for.
const maxTokenTTL = 365 * 24 * time.Hour

// touchEvery is how stale a token's last-used time may get: writing it at
// every request would turn each read into a write.
const touchEvery = time.Minute

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	// Name labels the token in listings, e.g. "laptop".
	Name string `json:"name,omitempty"`
	// ExpiresIn is the token's lifetime in seconds; 0 for the default.
	ExpiresIn int64 `json:"expires_in,omitempty"`
}

type loginResponse struct {
	Token   string    `json:"token"`
	ID      int64     `json:"id"`
	Name    string    `json:"name,omitempty"`
	Expires time.Time `json:"expires"`
}

// auth is the authenticated caller of a request.
type auth struct {
	user  core.User
	token core.AccessToken
}

// remoteAddr is the client's address for the login limiter. A reverse
// proxy in front makes every client one address; see the README.
func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.IPv6Unspecified()
	}
	return ap.Addr()
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if p := readJSON(w, r, &req); p != nil {
		s.writeProblem(w, r, p)
		return
	}
	switch {
	case req.Username == "":
		s.writeProblem(w, r, badField("username", "username is required"))
		return
	case req.Password == "":
		s.writeProblem(w, r, badField("password", "password is required"))
		return
	case req.ExpiresIn < 0 || time.Duration(req.ExpiresIn) > maxTokenTTL/time.Second:
		s.writeProblem(w, r, badField("expires_in", "expires_in must be between 0 and %d seconds", int64(maxTokenTTL/time.Second)))
		return
	case len(req.Name) > 100:
		s.writeProblem(w, r, badField("name", "name is longer than 100 bytes"))
		return
	}
	addr := remoteAddr(r)
	if ok, retry := s.limiter.Allow(addr, req.Username); !ok {
		p := newProblem(http.StatusTooManyRequests, "too many failed logins; try again later")
		p.retryAfter = retry
		s.writeProblem(w, r, p)
		return
	}
	u, ok, err := s.checkPassword(r.Context(), req.Username, req.Password)
	if err != nil {
		s.writeProblem(w, r, internal(err))
		return
	}
	if !ok {
		s.limiter.Failure(addr, req.Username)
		s.writeProblem(w, r, newProblem(http.StatusUnauthorized, "wrong username or password"))
		return
	}
	s.limiter.Success(addr, req.Username)
	ttl := s.cfg.TokenTTL
	if req.ExpiresIn > 0 {
		ttl = time.Duration(req.ExpiresIn) * time.Second
	}
	secret, hash, err := newTokenSecret()
	if err != nil {
		s.writeProblem(w, r, internal(err))
		return
	}
	t, err := s.store.CreateToken(r.Context(), core.AccessToken{User: u.ID, Hash: hash, Name: req.Name, Expires: s.now().Add(ttl)})
	if err != nil {
		s.writeProblem(w, r, internal(err))
		return
	}
	s.log.Info("API token created", "user", u.Name, "token", t.ID, "remote", addr)
	writeJSON(w, http.StatusCreated, loginResponse{Token: secret, ID: t.ID, Name: t.Name, Expires: t.Expires})
}

func newTokenSecret() (secret string, hash []byte, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	secret = tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, hashToken(secret), nil
}

func hashToken(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// decoyKeys are verified against for an unknown user, so a login for a
// name that does not exist costs the same PBKDF2 work as a wrong password
// and the answer's timing does not tell which names exist.
var decoyKeys = sync.OnceValue(func() core.ScramKeys {
	k, _ := core.DeriveScramKeys(core.ScramSHA256, rand.Text(), []byte("switchboard-decoy"), core.ScramIterations)
	return k
})

// checkPassword derives the password's SCRAM-SHA-256 keys with the stored
// salt and compares them in constant time.
func (s *Server) checkPassword(ctx context.Context, name, password string) (core.User, bool, error) {
	u, err := s.store.UserByName(ctx, name)
	if s.cfg.Errors.NotFound(err) {
		decoyKeys().Verify(password)
		return core.User{}, false, nil
	}
	if err != nil {
		return core.User{}, false, err
	}
	k, err := s.store.Credentials(ctx, u.ID, core.ScramSHA256)
	if s.cfg.Errors.NotFound(err) {
		decoyKeys().Verify(password)
		return core.User{}, false, nil
	}
	if err != nil {
		return core.User{}, false, err
	}
	return u, k.Verify(password), nil
}

// authed wraps a handler that needs a token: "Authorization: Bearer
// TOKEN". Tokens travel in a header, never a cookie, so another site
// cannot make a browser send one (no CSRF).
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, auth)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, p := s.authenticate(r)
		if p != nil {
			s.writeProblem(w, r, p)
			return
		}
		h(w, r, a)
	})
}

func (s *Server) authenticate(r *http.Request) (auth, *problem) {
	unauthorized := func(detail string) *problem {
		p := newProblem(http.StatusUnauthorized, detail)
		p.Field = "Authorization"
		return p
	}
	h := r.Header.Get("Authorization")
	scheme, secret, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || !strings.HasPrefix(secret, tokenPrefix) {
		return auth{}, unauthorized("a bearer token is required (POST /api/v1/tokens gives one)")
	}
	ctx := r.Context()
	t, err := s.store.TokenByHash(ctx, hashToken(strings.TrimSpace(secret)))
	if s.cfg.Errors.NotFound(err) {
		return auth{}, unauthorized("the token is not valid (revoked or mistyped)")
	}
	if err != nil {
		return auth{}, internal(err)
	}
	now := s.now()
	if !now.Before(t.Expires) {
		return auth{}, unauthorized("the token has expired; log in again")
	}
	u, err := s.store.User(ctx, t.User)
	if s.cfg.Errors.NotFound(err) {
		return auth{}, unauthorized("the token's user no longer exists")
	}
	if err != nil {
		return auth{}, internal(err)
	}
	if now.Sub(t.LastUsed) >= touchEvery {
		if err := s.store.TouchToken(ctx, t.ID, now); err != nil {
			s.log.Warn("recording token use", "err", err)
		}
	}
	return auth{user: u, token: t}, nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, a auth) {
	ts, err := s.store.Tokens(r.Context(), a.user.ID)
	if err != nil {
		s.writeProblem(w, r, internal(err))
		return
	}
	out := make([]tokenJSON, 0, len(ts))
	for _, t := range ts {
		out = append(out, tokenJSON{ID: t.ID, Name: t.Name, Created: t.Created, Expires: t.Expires,
			LastUsed: t.LastUsed, Current: t.ID == a.token.ID})
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
}

func (s *Server) deleteToken(w http.ResponseWriter, r *http.Request, a auth) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.writeProblem(w, r, badField("id", "id must be a token id"))
		return
	}
	if err := s.store.DeleteToken(r.Context(), a.user.ID, id); err != nil {
		s.writeProblem(w, r, s.storeProblem(err, "token"))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
