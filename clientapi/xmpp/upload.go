package xmpp

import (
	"context"
	"errors"
	"strconv"

	"github.com/switchboard/switchboard/core"
)

// HTTP File Upload (XEP-0363): the server's own address is the upload
// service, found by disco#info on the domain, which every client looks
// at (Conversations, Dino, Gajim and slixmpp check the domain before its
// items). The slots and files are the daemon's core.Uploads
// (clientapi/upload), served on the HTTPS port.

const nsUpload = "urn:xmpp:http:upload:0"

// uploadDisco is what the server's disco#info adds when uploads are on:
// the store/file identity, the feature, and the size limit as a form.
func (srv *Server) uploadDisco() (identity, *element) {
	form := dataForm("result", "", "",
		formField{Var: "FORM_TYPE", Type: "hidden", Values: []string{nsUpload}},
		formField{Var: "max-file-size", Values: []string{strconv.FormatInt(srv.uploads.MaxFileSize(), 10)}})
	return identity{"store", "file", "HTTP File Upload"}, form
}

// handleUploadRequest answers a slot request:
// <request filename size content-type/>.
func (s *session) handleUploadRequest(ctx context.Context, iq, req *element) {
	size, err := strconv.ParseInt(req.attr("size"), 10, 64)
	if err != nil {
		s.send(iqError(iq, "modify", "bad-request", "size: want the file's size in bytes"))
		return
	}
	slot, err := s.srv.uploads.NewSlot(s.user.ID, req.attr("filename"), size, req.attr("content-type"))
	var tooLarge *core.UploadTooLargeError
	switch {
	case errors.As(err, &tooLarge):
		e := stanzaError("modify", "not-acceptable", err.Error()).
			add(el(nsUpload, "file-too-large").add(el(nsUpload, "max-file-size").withText(strconv.FormatInt(tooLarge.Max, 10))))
		s.send(el(nsClient, "iq", "type", "error", "id", iq.attr("id"), "to", iq.attr("from"), "from", iq.attr("to")).add(e))
		return
	case errors.Is(err, core.ErrUploadName), errors.Is(err, core.ErrUploadSize):
		s.send(iqError(iq, "modify", "bad-request", err.Error()))
		return
	case errors.Is(err, core.ErrUploadQuota), errors.Is(err, core.ErrUploadBusy):
		s.send(iqError(iq, "wait", "resource-constraint", err.Error()))
		return
	case err != nil:
		s.log.Error("granting an upload slot", "err", err)
		s.send(iqError(iq, "wait", "internal-server-error", ""))
		return
	}
	put := el(nsUpload, "put", "url", slot.PutURL)
	for name, value := range slot.Headers {
		put.add(el(nsUpload, "header", "name", name).withText(value))
	}
	s.send(iqResult(iq).add(el(nsUpload, "slot").add(put, el(nsUpload, "get", "url", slot.GetURL))))
}
