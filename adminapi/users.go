package adminapi

import (
	"context"
	"encoding/csv"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// The users' routes (issue 20). UsersService's handlers are in users_server.go.
const (
	// PathUsers (declared in api.go) also answers GET with a UserPage; its query takes
	// "q" (substring of e-mail or name), "role", "state" ("active", "disabled"), "offset" and
	// "limit" (default 100, at most 1000).
	//
	// PathUser+"/"+escaped e-mail answers GET with a UserInfo, PATCH UserEdit with the
	// UserInfo as changed, DELETE UserDeleteRequest with a UserDeleteResult.
	PathUser = "/v1/users"
	// PathUserPasswordSuffix after PathUser+"/"+e-mail answers POST (empty object) with a
	// UserAddResponse carrying a new generated password, shown once: the user must change it
	// at the next login, and their sessions and tokens stop working.
	PathUserPasswordSuffix = "/password"
	// PathUserImport answers POST UserImportRequest with a UserImportReport.
	PathUserImport = "/v1/users/import"
	// MaxImportBytes bounds a CSV import's body (10 000 lines of a few fields fit well).
	MaxImportBytes = 8 << 20
)

// QuotaDefault in UserInfo.QuotaBytes and UserEdit.QuotaBytes means "the quota.user_bytes
// setting applies"; 0 means no quota for that user.
const QuotaDefault int64 = -1

// UserQuery selects a page of users.
type UserQuery struct {
	Query  string // substring of the e-mail address or the name, case-insensitive
	Role   string // "" for any
	State  string // "", "active" or "disabled"
	Offset int
	Limit  int // 0: 100; at most 1000
}

// UserPage is one page of users, sorted by e-mail address.
type UserPage struct {
	Users []UserInfo `json:"users"`
	Total int        `json:"total"` // users matching the query, all pages
}

// UserEdit changes the fields that are not nil.
type UserEdit struct {
	Name       *string `json:"name,omitempty"`
	Lang       *string `json:"lang,omitempty"` // "fr" or "en"
	Role       *string `json:"role,omitempty"` // "supervisor", "manager" or "user"
	QuotaBytes *int64  `json:"quota_bytes,omitempty"`
	Disabled   *bool   `json:"disabled,omitempty"`
}

// UserDeleteRequest deletes a user. Their personal tokens and sessions end at once. Without
// KeepSends, their sends are revoked and their files deleted (keys first); with KeepSends
// their links keep working until they expire, when the files go as any others do.
type UserDeleteRequest struct {
	KeepSends bool `json:"keep_sends,omitempty"`
}

// UserDeleteResult says what deleting a user did.
type UserDeleteResult struct {
	Email        string `json:"email"`
	SendsRevoked int    `json:"sends_revoked"`
	SendsKept    int    `json:"sends_kept"`
	FilesDeleted int    `json:"files_deleted"`
	BytesFreed   int64  `json:"bytes_freed"`
}

// UserImportRequest imports users from CSV: a header line naming the columns, among
// "email" (required), "name", "role", "lang" and "quota_bytes" (or "quota", with K, M, G
// suffixes), in any order; "," or ";" separated, UTF-8 (a BOM is skipped).
type UserImportRequest struct {
	CSV string `json:"csv"`
	// DryRun checks every line and reports without creating anything.
	DryRun bool `json:"dry_run,omitempty"`
	// Update changes the name, role, language and quota of users that exist already;
	// otherwise such a line is reported as unchanged ("exists").
	Update bool `json:"update,omitempty"`
}

// UserImportReport is the outcome of an import, or what it would do (DryRun).
type UserImportReport struct {
	DryRun    bool              `json:"dry_run"`
	Lines     int               `json:"lines"` // data lines read (the header excluded)
	Created   int               `json:"created"`
	Updated   int               `json:"updated"`
	Unchanged int               `json:"unchanged"`
	Failed    []ImportLineError `json:"failed,omitempty"` // every refused line, in order
	// Preview is the first lines as parsed (at most 20), for the operator to check the
	// columns were understood.
	Preview []ImportRow `json:"preview,omitempty"`
	// Passwords are the created users' first passwords, shown once (not in a dry run); each
	// must be changed at first login.
	Passwords []ImportPassword `json:"passwords,omitempty"`
}

// ImportRow is one parsed line of an import.
type ImportRow struct {
	Line       int    `json:"line"` // 1-based line number in the file, the header being line 1
	Email      string `json:"email"`
	Name       string `json:"name,omitempty"`
	Role       string `json:"role"`
	Lang       string `json:"lang"`
	QuotaBytes int64  `json:"quota_bytes"` // QuotaDefault when the column is absent or empty
	Action     string `json:"action"`      // "create", "update", "unchanged" or "error"
}

// ImportLineError is one refused line: nothing of it was applied.
type ImportLineError struct {
	Line  int    `json:"line"`
	Email string `json:"email,omitempty"`
	Error string `json:"error"` // one sentence saying what to fix
}

// ImportPassword is a created user's first password.
type ImportPassword struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// UsersService is what the node implements for the users' routes; NewHandler serves them
// when the Service given implements it. Every change is journalled with the caller
// (CallerFrom). CodeNotFound for an unknown e-mail address, CodeInvalidValue for a bad field.
type UsersService interface {
	// ListUsers returns one page of users matching q.
	ListUsers(ctx context.Context, q UserQuery) (UserPage, error)
	// GetUser returns one user, with their quota and storage usage.
	GetUser(ctx context.Context, email string) (UserInfo, error)
	// EditUser applies e; disabling takes effect at once on every node.
	EditUser(ctx context.Context, email string, e UserEdit) (UserInfo, error)
	// DeleteUser deletes a user as req says; CodeConflict for the last active supervisor.
	DeleteUser(ctx context.Context, email string, req UserDeleteRequest) (UserDeleteResult, error)
	// ResetPassword gives the user a new generated password (returned once).
	ResetPassword(ctx context.Context, email string) (UserAddResponse, error)
	// ImportUsers checks and (unless req.DryRun) applies a CSV import, in batches that fit
	// the metadata's batch limit; a refused line leaves the others applied.
	ImportUsers(ctx context.Context, req UserImportRequest) (UserImportReport, error)
}

func userPath(email string) string { return PathUser + "/" + url.PathEscape(email) }

// ListUsers returns one page of users.
func (c *Client) ListUsers(ctx context.Context, q UserQuery) (UserPage, error) {
	v := url.Values{}
	setQuery(v, "q", q.Query)
	setQuery(v, "role", q.Role)
	setQuery(v, "state", q.State)
	if q.Offset > 0 {
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return call[UserPage](ctx, c, http.MethodGet, withQuery(PathUsers, v), nil)
}

// GetUser returns one user.
func (c *Client) GetUser(ctx context.Context, email string) (UserInfo, error) {
	return call[UserInfo](ctx, c, http.MethodGet, userPath(email), nil)
}

// EditUser changes a user.
func (c *Client) EditUser(ctx context.Context, email string, e UserEdit) (UserInfo, error) {
	return call[UserInfo](ctx, c, http.MethodPatch, userPath(email), e)
}

// DeleteUser deletes a user.
func (c *Client) DeleteUser(ctx context.Context, email string, req UserDeleteRequest) (UserDeleteResult, error) {
	return call[UserDeleteResult](ctx, c, http.MethodDelete, userPath(email), req)
}

// ResetPassword gives a user a new generated password.
func (c *Client) ResetPassword(ctx context.Context, email string) (UserAddResponse, error) {
	return call[UserAddResponse](ctx, c, http.MethodPost, userPath(email)+PathUserPasswordSuffix, struct{}{})
}

// ImportUsers checks or applies a CSV import.
func (c *Client) ImportUsers(ctx context.Context, req UserImportRequest) (UserImportReport, error) {
	return call[UserImportReport](ctx, c, http.MethodPost, PathUserImport, req)
}

func setQuery(v url.Values, key, value string) {
	if value != "" {
		v.Set(key, value)
	}
}

func setTime(v url.Values, key string, t time.Time) {
	if !t.IsZero() {
		v.Set(key, t.UTC().Format(time.RFC3339))
	}
}

func withQuery(path string, v url.Values) string {
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

// WritePasswordsCSV writes an import's first passwords as CSV, a header line "email,password"
// then one line a user: the file the CLI and the console save them to.
func WritePasswordsCSV(w io.Writer, pws []ImportPassword) error {
	cw := csv.NewWriter(w)
	rows := [][]string{{"email", "password"}}
	for _, p := range pws {
		rows = append(rows, []string{p.Email, p.Password})
	}
	return cw.WriteAll(rows)
}
