package adminapi

import "net/http"

// handleMail registers the mail queue's and the console's other actions' routes when svc
// implements MailService.
func (h *handler) handleMail(mux *http.ServeMux) {
	ms, ok := h.svc.(MailService)
	if !ok {
		return
	}
	mux.HandleFunc("POST "+PathOutbox+"/{id}"+PathOutboxRetrySuffix, func(w http.ResponseWriter, r *http.Request) {
		var req struct{}
		if !h.decode(w, r, &req) {
			return
		}
		m, err := ms.RetryMail(r.Context(), r.PathValue("id"))
		h.reply(w, r, m, err)
	})
	mux.HandleFunc("DELETE "+PathOutbox+"/{id}", func(w http.ResponseWriter, r *http.Request) {
		err := ms.DiscardMail(r.Context(), r.PathValue("id"))
		h.reply(w, r, struct{}{}, err)
	})
	mux.HandleFunc("POST "+PathMailTest, func(w http.ResponseWriter, r *http.Request) {
		var req MailTestRequest
		if !h.decode(w, r, &req) {
			return
		}
		switch req.Lang {
		case "", "fr", "en":
		default:
			h.fail(w, r, Errorf(CodeBadRequest, "lang %q: want fr or en", req.Lang))
			return
		}
		res, err := ms.TestMail(r.Context(), req)
		h.reply(w, r, res, err)
	})
	mux.HandleFunc("POST "+PathSettingsValidate, func(w http.ResponseWriter, r *http.Request) {
		var req Setting
		if !h.decode(w, r, &req) {
			return
		}
		s, err := ms.ValidateSetting(r.Context(), req.Key, req.Value)
		h.reply(w, r, s, err)
	})
	mux.HandleFunc("POST "+PathBackupNow, func(w http.ResponseWriter, r *http.Request) {
		var req struct{}
		if !h.decode(w, r, &req) {
			return
		}
		rec, err := ms.BackupNow(r.Context())
		h.reply(w, r, rec, err)
	})
}
