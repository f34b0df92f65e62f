// Package httpapi is Switchboard's HTTPS port: the JSON API under /api/v1
// (login tokens, networks, conversations, paging, sending with
// Idempotency-Key, read markers, search, presence), live events as
// Server-Sent Events with resumption, /healthz and /metrics. The web
// page, /xmpp-websocket and the federation endpoint mount here later.
//
// Files: server.go (config, routes), auth.go (login, tokens), networks.go,
// conversations.go (paging, send, read markers), search.go, presence.go,
// events.go and eventjson.go (SSE), dto.go (the JSON types, apart from
// core's), problem.go and decode.go (RFC 9457 errors, request decoding),
// metrics.go, openapi.json (the API's description, checked by a test).
//
// It imports core and never a bridge or the store's concrete type: the
// daemon hands it a Store, a Hub and the network validation.
package httpapi
