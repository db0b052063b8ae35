package adminapi

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// The transfers' routes (issue 20). TransfersService's handlers are in transfers_server.go.
const (
	// PathTransfers answers GET with a TransferPage; its query takes "user" (e-mail),
	// "state", "kind", "since", "until" (RFC 3339), "q" (substring of the subject, a file
	// name or a recipient), "offset" and "limit" (default 100, at most 1000).
	// PathTransfers+"/"+id answers GET with a TransferDetail.
	PathTransfers = "/v1/transfers"
	// PathTransferRevokeSuffix after PathTransfers+"/"+id answers POST (empty object) with
	// the TransferInfo as revoked.
	PathTransferRevokeSuffix = "/revoke"
)

// States of a transfer in TransferInfo.State.
const (
	TransferActive    = "active"    // a send whose link works
	TransferWaiting   = "waiting"   // a send whose files are not yet released (scan, hold)
	TransferExpired   = "expired"   // past its expiry or download limit
	TransferRevoked   = "revoked"   // revoked by its owner or an administrator
	TransferSuspended = "suspended" // made before a restore, not yet confirmed
	TransferUploading = "uploading" // an upload begun and not yet complete (Kind "upload")
)

// TransferQuery selects a page of transfers.
type TransferQuery struct {
	User   string // owner's e-mail address; "" for all
	Kind   string // "send", "upload" or "" for both
	State  string // one of the Transfer states, "" for any
	Since  time.Time
	Until  time.Time
	Query  string
	Offset int
	Limit  int // 0: 100; at most 1000
}

// TransferPage is one page of transfers, newest first.
type TransferPage struct {
	Transfers []TransferInfo `json:"transfers"`
	Total     int            `json:"total"`
}

// TransferInfo is one send, or one upload in progress, as the console lists it.
type TransferInfo struct {
	ID         string    `json:"id"`
	Kind       string    `json:"kind"` // "send" or "upload"
	Owner      string    `json:"owner"`
	Subject    string    `json:"subject,omitempty"`
	State      string    `json:"state"`
	Created    time.Time `json:"created"`
	Expires    time.Time `json:"expires,omitzero"`
	Files      int       `json:"files"`
	Bytes      int64     `json:"bytes"` // total size of the files (for an upload, received so far)
	Recipients int       `json:"recipients"`
	Downloads  int       `json:"downloads"` // completed downloads, all recipients
}

// TransferDetail is a send with its files, options and per-recipient state.
type TransferDetail struct {
	TransferInfo
	Files      []TransferFile      `json:"files"`
	Recipients []TransferRecipient `json:"recipients"`
	// Options as the owner chose them.
	Password      bool `json:"password"`       // a password protects the link
	DownloadLimit int  `json:"download_limit"` // 0: none
	DeleteAfter   bool `json:"delete_after"`   // files go after the first complete download
	Receipt       bool `json:"receipt"`        // the owner gets a mail per download
	EmailCode     bool `json:"email_code"`     // recipients prove their address by a code
}

// TransferFile is one file of a send.
type TransferFile struct {
	Name    string `json:"name"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
	Verdict string `json:"verdict"` // the scan verdict as users see it
}

// TransferRecipient is one recipient's state.
type TransferRecipient struct {
	Email        string    `json:"email"`
	Opened       bool      `json:"opened"` // has opened the link
	Downloads    int       `json:"downloads"`
	LastDownload time.Time `json:"last_download,omitzero"`
	Notified     bool      `json:"notified"` // the invitation mail left
}

// TransfersService is what the node implements for the transfers' routes; NewHandler serves
// them when the Service given implements it.
type TransfersService interface {
	// ListTransfers returns one page of transfers matching q, newest first.
	ListTransfers(ctx context.Context, q TransferQuery) (TransferPage, error)
	// GetTransfer returns one send with its files and recipients; CodeNotFound else.
	GetTransfer(ctx context.Context, id string) (TransferDetail, error)
	// RevokeTransfer revokes a send at once, on every node, journalled with the caller;
	// revoking a revoked send answers it unchanged.
	RevokeTransfer(ctx context.Context, id string) (TransferInfo, error)
}

// ListTransfers returns one page of transfers.
func (c *Client) ListTransfers(ctx context.Context, q TransferQuery) (TransferPage, error) {
	return call[TransferPage](ctx, c, http.MethodGet, withQuery(PathTransfers, q.values()), nil)
}

// values encodes q as PathTransfers' query string (ParseTransferQuery reads it back).
func (q TransferQuery) values() url.Values {
	v := url.Values{}
	setQuery(v, "user", q.User)
	setQuery(v, "kind", q.Kind)
	setQuery(v, "state", q.State)
	setTime(v, "since", q.Since)
	setTime(v, "until", q.Until)
	setQuery(v, "q", q.Query)
	if q.Offset > 0 {
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

// GetTransfer returns one send in detail.
func (c *Client) GetTransfer(ctx context.Context, id string) (TransferDetail, error) {
	return call[TransferDetail](ctx, c, http.MethodGet, PathTransfers+"/"+url.PathEscape(id), nil)
}

// RevokeTransfer revokes a send.
func (c *Client) RevokeTransfer(ctx context.Context, id string) (TransferInfo, error) {
	return call[TransferInfo](ctx, c, http.MethodPost, PathTransfers+"/"+url.PathEscape(id)+PathTransferRevokeSuffix, struct{}{})
}
