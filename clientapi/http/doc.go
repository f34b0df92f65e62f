// Package httpapi is Switchboard's HTTPS port: today the health check; the
// REST and SSE API, login tokens, the web page, /xmpp-websocket, /metrics
// and the federation endpoint mount here as they are built.
//
// It imports core and never a bridge or the store's concrete type.
package httpapi
