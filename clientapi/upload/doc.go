// Package upload is Switchboard's file sharing for devices: XEP-0363 HTTP
// File Upload. A device asks the XMPP port for a slot, PUTs the file to
// the HTTPS port, and sends the GET address in its message, which every
// recipient (an IRC user included) can open.
//
// It owns the upload slots (in memory, few per user, minutes long), the
// files on disk (one directory per upload, named by 128 random bits, so
// the GET address is the capability to read it, as XEP-0363 intends),
// the size limit per file and the quota per user, and the HTTP handler
// under /upload/ that takes the PUT and serves the GET.
//
// Files are served so that nothing uploaded can run as the daemon's own
// web page, which shares the origin and holds login tokens: every answer
// carries a sandboxing Content-Security-Policy and nosniff, and only
// images, audio, video and plain text are shown inline; anything else is
// a download.
//
// It imports the standard library and core only; the daemon mounts the
// handler on the HTTPS listener and hands the service to the XMPP port.
package upload
