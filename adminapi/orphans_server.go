package adminapi

import "net/http"

// handleOrphans registers PathOrphans: GET lists the orphans, DELETE removes them.
func (h *handler) handleOrphans(mux *http.ServeMux) {
	mux.HandleFunc("GET "+PathOrphans, func(w http.ResponseWriter, r *http.Request) {
		rep, err := h.svc.Orphans(r.Context())
		h.reply(w, r, rep, err)
	})
	mux.HandleFunc("DELETE "+PathOrphans, func(w http.ResponseWriter, r *http.Request) {
		var req OrphansDeleteRequest
		if !h.decode(w, r, &req) {
			return
		}
		for _, id := range req.FileIDs {
			if id == "" || len(id) > 256 {
				h.fail(w, r, Errorf(CodeBadRequest, "file ID %q is not a file ID", id))
				return
			}
		}
		rep, err := h.svc.DeleteOrphans(r.Context(), req)
		h.reply(w, r, rep, err)
	})
}
