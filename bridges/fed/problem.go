package fed

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// problemBase prefixes every problem type (docs/federation.md, section 6).
const problemBase = "https://switchboard.chat/problems/fed/"

// problem is a refused request: an RFC 9457 problem detail.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`

	retryAfter time.Duration
}

func (p *problem) Error() string { return strconv.Itoa(p.Status) + " " + p.Type + ": " + p.Detail }

func refuse(status int, kind, detail string) *problem {
	return &problem{Type: problemBase + kind, Title: http.StatusText(status), Status: status, Detail: detail}
}

func writeProblem(w http.ResponseWriter, p *problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	if p.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(p.retryAfter.Seconds()+0.999)))
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
