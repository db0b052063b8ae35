package adminapi

import (
	"encoding/json"
	"net/http"
)

// WhileStarting returns h behind the node's start: until serving reports true, every request
// is answered CodeUnavailable ("the node is starting"), since the components the Service
// reads are still being set up. serving is called on each request's goroutine.
func WhileStarting(serving func() bool, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !serving() {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(httpStatus(CodeUnavailable))
			_ = json.NewEncoder(w).Encode(Errorf(CodeUnavailable, "the node is starting: try again in a moment"))
			return
		}
		h.ServeHTTP(w, r)
	})
}
