// Package web is Switchboard's web page: plain HTML, CSS and JavaScript
// modules embedded in the binary, served by the HTTPS port at / and
// /assets/. There is no framework and no build step, so what the browser
// runs is exactly what is in static/, and the page works offline on a LAN
// (no CDN).
//
// The page talks to the daemon only through the JSON API under /api/v1
// and its Server-Sent Events, with the token in the Authorization header
// (never a cookie, so a cross-site request carries no credentials). Every
// answer sets a Content-Security-Policy that allows scripts, styles and
// connections to this origin only, no inline code, and Trusted Types, so
// message text can never become markup.
//
// Files: web.go (the handler and its headers), static/ (the page:
// index.html, style.css, and the modules api.js, sse.js, format.js,
// views.js, app.js).
//
// It imports nothing of the project: clientapi/http mounts it.
package web
