// Package clientapi holds the ports devices connect to: http (the HTTPS
// API, web page, WebSocket and metrics) and xmpp (the XMPP client port).
// They import core and never a bridge or the store's concrete type.
package clientapi
