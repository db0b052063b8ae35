package adminapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"valise/internal/logkey"
)

// maxRequestBody bounds every admin request body: they are small JSON objects.
const maxRequestBody = 1 << 20

// NewHandler returns the admin API's routes over svc. The caller serves it on a listener only
// administrators can reach (the node's Unix socket, mode 0600).
func NewHandler(svc Service, logger *slog.Logger) http.Handler {
	h := &handler{svc: svc, logger: logger.With("component", "adminapi")}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathStatus, h.status)
	mux.HandleFunc("POST "+PathSelftest, h.selftest)
	mux.HandleFunc("POST "+PathJournalVerify, h.journalVerify)
	mux.HandleFunc("GET "+PathSettings, h.settings)
	mux.HandleFunc("GET "+PathSettings+"/{key}", h.settingGet)
	mux.HandleFunc("PUT "+PathSettings+"/{key}", h.settingSet)
	mux.HandleFunc("POST "+PathUsers, h.userAdd)
	mux.HandleFunc("POST "+PathPasswordCheck, h.passwordCheck)
	mux.HandleFunc("POST "+PathUserDisable, h.userDisable(true))
	mux.HandleFunc("POST "+PathUserEnable, h.userDisable(false))
	mux.HandleFunc("POST "+PathTokens, h.tokenCreate)
	mux.HandleFunc("DELETE "+PathTokens+"/{id}", h.tokenRevoke)
	mux.HandleFunc("GET "+PathOutbox, h.outbox)
	mux.HandleFunc("POST "+PathCARenew, h.caRenew)
	h.handleAdminCerts(mux) // admincert.go
	mux.HandleFunc("POST "+PathCAEndTransition, h.caEndTransition)
	mux.HandleFunc("POST "+PathClusterToken, h.clusterToken)
	mux.HandleFunc("POST "+PathBackup, h.backup) // backup_server.go
	mux.HandleFunc("GET "+PathBackups, h.backups)
	h.handleRepair(mux)
	h.handleOrphans(mux)   // orphans_server.go
	h.handleUsers(mux)     // users_server.go
	h.handleTransfers(mux) // transfers_server.go
	h.handleJournal(mux)   // journal_server.go
	h.handleMail(mux)      // mail_server.go
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, Errorf(CodeNotFound, "no admin route %s %s", r.Method, r.URL.Path))
	})
	return h.authorize(mux) // access_server.go: who calls, and what their role may do
}

// handler adapts a Service to HTTP.
type handler struct {
	svc    Service      // never nil
	logger *slog.Logger // never nil
}

func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	st, err := h.svc.Status(r.Context())
	h.reply(w, r, st, err)
}

func (h *handler) selftest(w http.ResponseWriter, r *http.Request) {
	var req SelftestRequest
	if !h.decode(w, r, &req) {
		return
	}
	if req.Size <= 0 && req.VerifyID == "" {
		h.fail(w, r, Errorf(CodeBadRequest, "selftest size must be positive, got %d", req.Size))
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	flusher, _ := w.(http.Flusher)
	started := false
	send := func(ev SelftestEvent) {
		started = true
		if err := enc.Encode(ev); err != nil {
			return // the client left; the selftest ends with the request's context
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
	res, err := h.svc.Selftest(r.Context(), req, func(s SelftestStep) { send(SelftestEvent{Step: &s}) })
	if err != nil {
		if !started {
			h.fail(w, r, err)
			return
		}
		// The status line is gone: report the failure as a final, failed result.
		h.logger.Warn("selftest aborted", logkey.Err, err)
		res.OK = false
		res.Steps = append(res.Steps, SelftestStep{Name: "abort", Error: publicMessage(err)})
	}
	send(SelftestEvent{Result: &res})
}

func (h *handler) journalVerify(w http.ResponseWriter, r *http.Request) {
	rep, err := h.svc.VerifyJournal(r.Context())
	h.reply(w, r, rep, err)
}

func (h *handler) settings(w http.ResponseWriter, r *http.Request) {
	list, err := h.svc.Settings(r.Context())
	h.reply(w, r, SettingList{Settings: list}, err)
}

func (h *handler) settingGet(w http.ResponseWriter, r *http.Request) {
	s, err := h.svc.Setting(r.Context(), r.PathValue("key"))
	h.reply(w, r, s, err)
}

func (h *handler) settingSet(w http.ResponseWriter, r *http.Request) {
	var req Setting
	if !h.decode(w, r, &req) {
		return
	}
	s, err := h.svc.SetSetting(r.Context(), r.PathValue("key"), req.Value)
	h.reply(w, r, s, err)
}

func (h *handler) userAdd(w http.ResponseWriter, r *http.Request) {
	var req UserAddRequest
	if !h.decode(w, r, &req) {
		return
	}
	resp, err := h.svc.AddUser(r.Context(), req)
	h.reply(w, r, resp, err)
}

func (h *handler) passwordCheck(w http.ResponseWriter, r *http.Request) {
	var req PasswordCheckRequest
	if !h.decode(w, r, &req) {
		return
	}
	resp, err := h.svc.CheckPassword(r.Context(), req)
	h.reply(w, r, resp, err)
}

func (h *handler) userDisable(disabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req UserRef
		if !h.decode(w, r, &req) {
			return
		}
		resp, err := h.svc.SetUserDisabled(r.Context(), req.Email, disabled)
		h.reply(w, r, resp, err)
	}
}

func (h *handler) tokenCreate(w http.ResponseWriter, r *http.Request) {
	var req TokenCreateRequest
	if !h.decode(w, r, &req) {
		return
	}
	resp, err := h.svc.CreateToken(r.Context(), req)
	h.reply(w, r, resp, err)
}

func (h *handler) tokenRevoke(w http.ResponseWriter, r *http.Request) {
	err := h.svc.RevokeToken(r.Context(), r.PathValue("id"))
	h.reply(w, r, struct{}{}, err)
}

func (h *handler) outbox(w http.ResponseWriter, r *http.Request) {
	out, err := h.svc.Outbox(r.Context())
	h.reply(w, r, out, err)
}

func (h *handler) caRenew(w http.ResponseWriter, r *http.Request) {
	var req CARenewRequest
	if !h.decode(w, r, &req) {
		return
	}
	info, err := h.svc.RenewCA(r.Context(), req)
	h.reply(w, r, info, err)
}

func (h *handler) caEndTransition(w http.ResponseWriter, r *http.Request) {
	var req struct{}
	if !h.decode(w, r, &req) {
		return
	}
	info, err := h.svc.EndCATransition(r.Context())
	h.reply(w, r, info, err)
}

func (h *handler) clusterToken(w http.ResponseWriter, r *http.Request) {
	var req ClusterTokenRequest
	if !h.decode(w, r, &req) {
		return
	}
	tok, err := h.svc.ClusterToken(r.Context(), req)
	h.reply(w, r, tok, err)
}

// decode reads r's JSON body into v, answering a CodeBadRequest and returning false when it
// cannot.
func (h *handler) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		h.fail(w, r, Errorf(CodeBadRequest, "malformed request body: %v", err))
		return false
	}
	return true
}

// reply writes v as JSON, or err as an Error.
func (h *handler) reply(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		h.logger.Debug("write admin reply", "path", r.URL.Path, logkey.Err, err)
	}
}

// fail writes err as an Error with the status its code maps to. An error that is not an *Error
// is logged and shown as CodeInternal with its text.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		h.logger.Error("admin call", "method", r.Method, "path", r.URL.Path, logkey.Err, err)
		e = &Error{Code: CodeInternal, Message: err.Error()}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus(e.Code))
	_ = json.NewEncoder(w).Encode(e)
}

// publicMessage is err's message as an operator sees it.
func publicMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

// httpStatus maps an error code to its HTTP status: the one place that does.
func httpStatus(code string) int {
	switch code {
	case CodeBadRequest, CodeInvalidValue, CodeUnknownSetting:
		return http.StatusBadRequest
	case CodeNotFound:
		return http.StatusNotFound
	case CodeForbidden:
		return http.StatusForbidden
	case CodeConflict:
		return http.StatusConflict
	case CodeNotLeader, CodeUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}
