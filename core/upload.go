package core

import (
	"errors"
	"fmt"
)

// Uploads grants devices room for a file (XEP-0363 HTTP File Upload): an
// address to PUT it to and the address to share, which anyone given it
// may read. The daemon's implementation is clientapi/upload.
type Uploads interface {
	// MaxFileSize is the largest file a slot is granted for, in bytes.
	MaxFileSize() int64
	// NewSlot grants user the upload of one file: its name as the
	// device gives it, its size in bytes, its media type (may be
	// empty). Refusals wrap one of the ErrUpload errors or are an
	// *UploadTooLargeError.
	NewSlot(user UserID, name string, size int64, contentType string) (UploadSlot, error)
}

// UploadSlot is a granted upload: where to PUT the file with which
// headers, and the address to share once it is there.
type UploadSlot struct {
	PutURL  string
	Headers map[string]string
	GetURL  string
}

// Why Uploads.NewSlot refuses a slot.
var (
	ErrUploadName  = errors.New("upload: the file name is empty, too long, or holds a slash or a control character")
	ErrUploadSize  = errors.New("upload: the size must be a positive number of bytes")
	ErrUploadQuota = errors.New("upload: the user's storage quota is used up")
	ErrUploadBusy  = errors.New("upload: too many uploads waiting; finish or drop some first")
)

// UploadTooLargeError refuses a file over the size limit.
type UploadTooLargeError struct{ Max int64 }

func (e *UploadTooLargeError) Error() string {
	return fmt.Sprintf("upload: the file is larger than the limit of %d bytes", e.Max)
}
