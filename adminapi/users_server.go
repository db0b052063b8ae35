package adminapi

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// maxUserPage is the largest page of users ListUsers answers.
const maxUserPage = 1000

// handleUsers registers the users' routes (users.go) when svc implements UsersService.
func (h *handler) handleUsers(mux *http.ServeMux) {
	us, ok := h.svc.(UsersService)
	if !ok {
		return
	}
	mux.HandleFunc("GET "+PathUsers, func(w http.ResponseWriter, r *http.Request) {
		q, err := userQuery(r)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		page, err := us.ListUsers(r.Context(), q)
		if page.Users == nil {
			page.Users = []UserInfo{}
		}
		h.reply(w, r, page, err)
	})
	mux.HandleFunc("GET "+PathUser+"/{email}", func(w http.ResponseWriter, r *http.Request) {
		u, err := us.GetUser(r.Context(), r.PathValue("email"))
		h.reply(w, r, u, err)
	})
	mux.HandleFunc("PATCH "+PathUser+"/{email}", func(w http.ResponseWriter, r *http.Request) {
		var req UserEdit
		if !h.decode(w, r, &req) {
			return
		}
		u, err := us.EditUser(r.Context(), r.PathValue("email"), req)
		h.reply(w, r, u, err)
	})
	mux.HandleFunc("DELETE "+PathUser+"/{email}", func(w http.ResponseWriter, r *http.Request) {
		var req UserDeleteRequest
		if !h.decode(w, r, &req) {
			return
		}
		res, err := us.DeleteUser(r.Context(), r.PathValue("email"), req)
		h.reply(w, r, res, err)
	})
	mux.HandleFunc("POST "+PathUser+"/{email}"+PathUserPasswordSuffix, func(w http.ResponseWriter, r *http.Request) {
		var req struct{}
		if !h.decode(w, r, &req) {
			return
		}
		res, err := us.ResetPassword(r.Context(), r.PathValue("email"))
		h.reply(w, r, res, err)
	})
	mux.HandleFunc("POST "+PathUserImport, func(w http.ResponseWriter, r *http.Request) {
		var req UserImportRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxImportBytes))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			h.fail(w, r, Errorf(CodeBadRequest, "malformed import request (at most %d MiB of CSV): %v", MaxImportBytes>>20, err))
			return
		}
		rep, err := us.ImportUsers(r.Context(), req)
		h.reply(w, r, rep, err)
	})
}

// userQuery reads a UserQuery from r's query string.
func userQuery(r *http.Request) (UserQuery, error) {
	v := r.URL.Query()
	q := UserQuery{Query: v.Get("q"), Role: v.Get("role"), State: v.Get("state")}
	switch q.State {
	case "", "active", "disabled":
	default:
		return q, Errorf(CodeBadRequest, "state %q: want active or disabled", q.State)
	}
	for _, p := range []struct {
		name string
		to   *int
		max  int
	}{{"offset", &q.Offset, 1 << 30}, {"limit", &q.Limit, maxUserPage}} {
		s := v.Get(p.name)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > p.max {
			return q, Errorf(CodeBadRequest, "%s %q: want a whole number from 0 to %d", p.name, s, p.max)
		}
		*p.to = n
	}
	if q.Limit == 0 {
		q.Limit = 100
	}
	return q, nil
}
