package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/switchboard/switchboard/core"
)

// Uploads: the web page (or a script) asks for room for a file, PUTs it
// to the address it is given, and sends that address in a message, as
// XMPP apps do through XEP-0363 with the same service.

type uploadRequest struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
	Type string `json:"type"`
}

type uploadSlotJSON struct {
	PutURL  string            `json:"put_url"`
	Headers map[string]string `json:"headers"`
	GetURL  string            `json:"get_url"`
}

func (s *Server) createUpload(w http.ResponseWriter, r *http.Request, a auth) {
	if s.cfg.Uploads == nil {
		s.writeProblem(w, r, newProblem(http.StatusNotFound, "file uploads are turned off on this server"))
		return
	}
	var req uploadRequest
	if p := readJSON(w, r, &req); p != nil {
		s.writeProblem(w, r, p)
		return
	}
	slot, err := s.cfg.Uploads.NewSlot(a.user.ID, req.Name, req.Size, req.Type)
	var tooLarge *core.UploadTooLargeError
	switch {
	case errors.As(err, &tooLarge):
		p := newProblem(http.StatusRequestEntityTooLarge, err.Error())
		p.Field = "size"
		s.writeProblem(w, r, p)
	case errors.Is(err, core.ErrUploadName):
		s.writeProblem(w, r, badField("name", "%v", err))
	case errors.Is(err, core.ErrUploadSize):
		s.writeProblem(w, r, badField("size", "%v", err))
	case errors.Is(err, core.ErrUploadQuota):
		s.writeProblem(w, r, newProblem(http.StatusInsufficientStorage, err.Error()))
	case errors.Is(err, core.ErrUploadBusy):
		p := newProblem(http.StatusTooManyRequests, err.Error())
		p.retryAfter = time.Minute
		s.writeProblem(w, r, p)
	case err != nil:
		s.writeProblem(w, r, internal(err))
	default:
		writeJSON(w, http.StatusCreated, uploadSlotJSON{PutURL: slot.PutURL, Headers: slot.Headers, GetURL: slot.GetURL})
	}
}
