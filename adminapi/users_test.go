package adminapi

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// usersStub is a stubService that also serves the users' routes, echoing what it got.
type usersStub struct {
	stubService
	got *UserQuery
}

func (s usersStub) ListUsers(_ context.Context, q UserQuery) (UserPage, error) {
	*s.got = q
	return UserPage{Users: []UserInfo{{Email: "a@example.org", QuotaBytes: QuotaDefault}}, Total: 7}, nil
}

func (usersStub) GetUser(_ context.Context, email string) (UserInfo, error) {
	if email != "a+b@example.org" {
		return UserInfo{}, Errorf(CodeNotFound, "no user %s", email)
	}
	return UserInfo{Email: email, UsedBytes: 5, Sends: 1}, nil
}

func (usersStub) EditUser(_ context.Context, email string, e UserEdit) (UserInfo, error) {
	u := UserInfo{Email: email}
	if e.Name != nil {
		u.Name = *e.Name
	}
	if e.QuotaBytes != nil {
		u.QuotaBytes = *e.QuotaBytes
	}
	return u, nil
}

func (usersStub) DeleteUser(_ context.Context, email string, req UserDeleteRequest) (UserDeleteResult, error) {
	if email == "root@example.org" {
		return UserDeleteResult{}, Errorf(CodeConflict, "the last supervisor")
	}
	r := UserDeleteResult{Email: email, SendsRevoked: 2}
	if req.KeepSends {
		r = UserDeleteResult{Email: email, SendsKept: 2}
	}
	return r, nil
}

func (usersStub) ResetPassword(_ context.Context, email string) (UserAddResponse, error) {
	return UserAddResponse{Email: email, Password: "new"}, nil
}

func (usersStub) ImportUsers(_ context.Context, req UserImportRequest) (UserImportReport, error) {
	return UserImportReport{DryRun: req.DryRun, Lines: strings.Count(req.CSV, "\n") - 1}, nil
}

// TestUsersRoutes drives every users' route over a socket: the query string, escaped
// addresses, edits, deletion with and without KeepSends, an import larger than the 1 MiB
// bound of other bodies, and refusals with their codes.
func TestUsersRoutes(t *testing.T) {
	var got UserQuery
	c := serveService(t, usersStub{got: &got})
	ctx := context.Background()

	page, err := c.ListUsers(ctx, UserQuery{Query: "dupont", Role: "manager", State: "active", Offset: 10, Limit: 5})
	if err != nil || page.Total != 7 || len(page.Users) != 1 {
		t.Fatalf("ListUsers = %+v, %v", page, err)
	}
	if got != (UserQuery{Query: "dupont", Role: "manager", State: "active", Offset: 10, Limit: 5}) {
		t.Fatalf("the service got %+v", got)
	}
	if _, err := c.ListUsers(ctx, UserQuery{}); err != nil || got.Limit != 100 {
		t.Fatalf("default limit: %+v, %v", got, err)
	}
	var e *Error
	if _, err := c.ListUsers(ctx, UserQuery{Limit: 5000}); !errors.As(err, &e) || e.Code != CodeBadRequest {
		t.Fatalf("ListUsers(limit 5000) = %v", err)
	}
	if _, err := c.ListUsers(ctx, UserQuery{State: "asleep"}); !errors.As(err, &e) || e.Code != CodeBadRequest {
		t.Fatalf("ListUsers(state asleep) = %v", err)
	}
	if u, err := c.GetUser(ctx, "a+b@example.org"); err != nil || u.UsedBytes != 5 {
		t.Fatalf("GetUser = %+v, %v", u, err)
	}
	if _, err := c.GetUser(ctx, "x@example.org"); !errors.As(err, &e) || e.Code != CodeNotFound {
		t.Fatalf("GetUser(unknown) = %v", err)
	}
	name, quota := "Anne", int64(10<<30)
	if u, err := c.EditUser(ctx, "a@example.org", UserEdit{Name: &name, QuotaBytes: &quota}); err != nil || u.Name != name || u.QuotaBytes != quota {
		t.Fatalf("EditUser = %+v, %v", u, err)
	}
	if r, err := c.DeleteUser(ctx, "a@example.org", UserDeleteRequest{KeepSends: true}); err != nil || r.SendsKept != 2 {
		t.Fatalf("DeleteUser(keep) = %+v, %v", r, err)
	}
	if r, err := c.DeleteUser(ctx, "a@example.org", UserDeleteRequest{}); err != nil || r.SendsRevoked != 2 {
		t.Fatalf("DeleteUser = %+v, %v", r, err)
	}
	if _, err := c.DeleteUser(ctx, "root@example.org", UserDeleteRequest{}); !errors.As(err, &e) || e.Code != CodeConflict {
		t.Fatalf("DeleteUser(last supervisor) = %v", err)
	}
	if r, err := c.ResetPassword(ctx, "a@example.org"); err != nil || r.Password != "new" {
		t.Fatalf("ResetPassword = %+v, %v", r, err)
	}
	big := "email\n" + strings.Repeat("someone.with.a.long.name@example.org\n", 60000) // > 2 MiB
	if r, err := c.ImportUsers(ctx, UserImportRequest{CSV: big, DryRun: true}); err != nil || r.Lines != 60000 || !r.DryRun {
		t.Fatalf("ImportUsers = %+v, %v", r, err)
	}
	huge := strings.Repeat("x", MaxImportBytes+1)
	if _, err := c.ImportUsers(ctx, UserImportRequest{CSV: huge}); !errors.As(err, &e) || e.Code != CodeBadRequest {
		t.Fatalf("ImportUsers(too big) = %v", err)
	}
}
