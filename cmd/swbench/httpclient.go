package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// apiClient talks to the daemon's HTTPS API as a web or mobile app does.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

// newAPIClient logs user in (POST /api/v1/tokens). The daemon's
// certificate is self-signed.
func newAPIClient(addr, user, password string, conns int) (*apiClient, error) {
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		MaxIdleConnsPerHost: conns, ForceAttemptHTTP2: false}
	c := &apiClient{base: "https://" + addr, http: &http.Client{Transport: tr}}
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	resp, err := c.http.Post(c.base+"/api/v1/tokens", "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("API login: %w", err)
	}
	defer resp.Body.Close()
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != 201 || tok.Token == "" {
		return nil, fmt.Errorf("API login: %s, %v", resp.Status, err)
	}
	c.token = tok.Token
	return c, nil
}

func (c *apiClient) close() { c.http.CloseIdleConnections() }

func (c *apiClient) get(path string) (*http.Response, error) {
	req, err := http.NewRequest("GET", c.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	return c.http.Do(req)
}

// search runs GET /api/v1/search and returns the time to read the whole
// answer and the number of results.
func (c *apiClient) search(q url.Values) (time.Duration, int, error) {
	start := time.Now()
	resp, err := c.get("/api/v1/search?" + q.Encode())
	if err != nil {
		return 0, 0, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		return 0, 0, err
	}
	if resp.StatusCode != 200 {
		return 0, 0, fmt.Errorf("search %s: %s: %s", q.Encode(), resp.Status, body)
	}
	var out struct {
		Results []json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return 0, 0, fmt.Errorf("decoding the search answer: %w", err)
	}
	return d, len(out.Results), nil
}

// subscribe opens GET /api/v1/events and returns once its "ready" event
// (the end of the replay) arrived; the returned reader continues after it.
func (c *apiClient) subscribe() (io.ReadCloser, *bufio.Reader, error) {
	resp, err := c.get("/api/v1/events")
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil, nil, fmt.Errorf("GET /api/v1/events: %s %s", resp.Status, b)
	}
	r := bufio.NewReaderSize(resp.Body, 8<<10)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			resp.Body.Close()
			return nil, nil, fmt.Errorf("the event stream ended before ready: %w", err)
		}
		if strings.TrimSpace(line) == "event: ready" {
			return resp.Body, r, nil
		}
	}
}
