package web

import (
	"errors"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"valise/account"
	"valise/internal/clientaddr"
)

// loginData is the login page's own data.
type loginData struct {
	Email string
}

// serveLogin shows the login form, or sends a signed-in user on.
func (h *Handler) serveLogin(r *request, _ map[string]string) {
	if r.loggedIn() {
		redirect(r.ctx, "/send")
		return
	}
	p := h.newPage(r)
	p.Data = loginData{}
	h.render(r, fasthttp.StatusOK, "login", p)
}

// Retry-After of the sign-in refusals: a lock or a rate limit (the same answer, so that
// neither tells what the other would), and a full Argon2 queue.
const (
	retryLocked = "60"
	retryBusy   = "5"
)

// serveLoginPost checks the e-mail address and password, opens a session and sets its cookie.
// Attempts are limited per client address and per e-mail address typed before anything is
// read; every refusal that happens before the password is checked (a rate limit, a lock, too
// many checks of the account running) gets one same answer, whatever the password, and a
// password checked and found wrong, or right but too late, gets the wrong password's.
func (h *Handler) serveLoginPost(r *request, _ map[string]string) {
	args := r.ctx.PostArgs()
	email := strings.TrimSpace(string(args.Peek("email")))
	password := string(args.Peek("password"))
	tr := h.translator(r.lang)
	fail := func(status int, msg string) {
		p := h.newPage(r)
		p.Error = msg
		p.Data = loginData{Email: email}
		h.render(r, status, "login", p)
	}
	tooMany := func(retry string) {
		r.ctx.Response.Header.Set("Retry-After", retry)
		fail(fasthttp.StatusTooManyRequests, tr.translate("login.too_many"))
	}
	if email == "" || password == "" || len(email) > 320 || len(password) > 1024 {
		fail(fasthttp.StatusUnauthorized, tr.translate("login.missing"))
		return
	}
	now := time.Now()
	if !h.loginByAddress.Allow(clientaddr.Key(r.ctx.RemoteIP().String()), now) || !h.loginByAccount.Allow(accountKey(email), now) {
		tooMany(retryLocked)
		return
	}
	u, err := h.deps.Accounts.CheckPassword(r.cx, email, password)
	switch {
	case err == nil:
	case errors.Is(err, account.ErrBadCredentials):
		msg, _ := h.accountMessage(r.lang, err)
		fail(fasthttp.StatusUnauthorized, msg)
		return
	case errors.Is(err, account.ErrLocked):
		tooMany(retryLocked)
		return
	case errors.Is(err, account.ErrBusy):
		tooMany(retryBusy)
		return
	default:
		msg, ok := h.accountMessage(r.lang, err)
		status := fasthttp.StatusUnauthorized // a disabled user
		if !ok {
			h.logger.Warn("login check failed", logErr, err)
			status = fasthttp.StatusServiceUnavailable
			r.ctx.Response.Header.Set("Retry-After", retryBusy)
		}
		fail(status, msg)
		return
	}
	token, sess, err := h.deps.Accounts.CreateSession(r.cx, u.ID)
	if err != nil {
		msg, ok := h.accountMessage(r.lang, err)
		if !ok {
			h.logger.Warn("session not created", logUserID, u.ID, logErr, err)
		}
		fail(fasthttp.StatusServiceUnavailable, msg)
		return
	}
	h.logger.Info("signed in", logUserID, u.ID, "session_id", sess.ID)
	setCookie(r.ctx, sessionCookie, token, h.cfg.SessionMaxAge, true)
	clearCookie(r.ctx, preCookie)
	if u.MustChangePassword {
		redirect(r.ctx, "/password")
		return
	}
	redirect(r.ctx, "/send")
}

// accountMessage returns what the user should read about err from account, and whether err
// was one meant for them (otherwise a generic "try again later").
func (h *Handler) accountMessage(lang string, err error) (string, bool) {
	var ue *account.UserError
	if errors.As(err, &ue) {
		return ue.Message(account.Language(lang)), true
	}
	return h.translator(lang).translate("error.unavailable"), false
}

// serveLogout ends the session and forgets its cookie.
func (h *Handler) serveLogout(r *request, _ map[string]string) {
	if err := h.deps.Accounts.DeleteSession(r.cx, r.token); err != nil {
		h.logger.Warn("session not deleted", logUserID, r.user.ID, logErr, err)
	}
	clearCookie(r.ctx, sessionCookie)
	redirect(r.ctx, "/login")
}

// passwordData is the password page's own data.
type passwordData struct {
	First bool // a password issued by an administrator: no current password asked
}

// servePassword shows the password change form.
func (h *Handler) servePassword(r *request, _ map[string]string) {
	p := h.newPage(r)
	p.Data = passwordData{First: r.user.MustChangePassword}
	h.render(r, fasthttp.StatusOK, "password", p)
}

// servePasswordPost changes the user's password. At first login the password just typed to
// sign in stands for the current one; otherwise the current password is checked again.
func (h *Handler) servePasswordPost(r *request, _ map[string]string) {
	args := r.ctx.PostArgs()
	first := r.user.MustChangePassword
	tr := h.translator(r.lang)
	fail := func(status int, msg string) {
		p := h.newPage(r)
		p.Error = msg
		p.Data = passwordData{First: first}
		h.render(r, status, "password", p)
	}
	newPW, confirm := string(args.Peek("new_password")), string(args.Peek("confirm_password"))
	if newPW == "" || newPW != confirm {
		fail(fasthttp.StatusUnprocessableEntity, tr.translate("password.mismatch"))
		return
	}
	if !first {
		if _, err := h.deps.Accounts.CheckPassword(r.cx, r.user.Email, string(args.Peek("current_password"))); err != nil {
			msg, _ := h.accountMessage(r.lang, err)
			fail(fasthttp.StatusUnprocessableEntity, msg)
			return
		}
	}
	// The other sessions and the API tokens end with the change; this one lives on.
	if err := h.deps.Accounts.SetPassword(account.WithActor(r.cx, string(r.user.ID)), r.user.Email, newPW, r.token); err != nil {
		msg, ok := h.accountMessage(r.lang, err)
		if !ok {
			h.logger.Warn("password not changed", logUserID, r.user.ID, logErr, err)
		}
		fail(fasthttp.StatusUnprocessableEntity, msg)
		return
	}
	h.logger.Info("password changed", logUserID, r.user.ID)
	redirect(r.ctx, "/send")
}
