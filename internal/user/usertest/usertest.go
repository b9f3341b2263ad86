package usertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/storetest"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// RunStoreTests runs the user.Store conformance suite. newStore must return
// an empty store of its own (fresh file or schema) and register its cleanup
// with t.Cleanup.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) user.Store) {
	t.Helper()
	storetest.Run(t, newStore, []storetest.Case[user.Store]{
		{Name: "CreateThenGetReturnsEveryField", Run: testCreateThenGet},
		{Name: "NameLookupIgnoresCaseWidthAndSpace", Run: testNameLookup},
		{Name: "CreateWithTakenNameKeyOrIDConflicts", Run: testCreateConflict},
		{Name: "MissingUserIsNotFound", Run: testMissing},
		{Name: "ListUsersReturnsEveryUser", Run: testList},
		{Name: "SearchUsersPagesAndFilters", Run: testSearch},
		{Name: "UpdateReplacesFieldsAndName", Run: testUpdate},
		{Name: "UpdateToTakenNameConflicts", Run: testUpdateConflict},
		{Name: "UpdateOfAUserChangedSinceReadIsStale", Run: testUpdateStale},
		{Name: "DeleteFreesTheName", Run: testDelete},
		{Name: "ConcurrentCreateWithSameNameSucceedsOnce", Run: testConcurrentCreate},
	})
}

// at is a fixed time with microsecond precision, the finest every store keeps.
var at = time.Date(2030, 1, 2, 3, 4, 5, 678901000, time.UTC)

func newUser(id, name string) auth.User {
	return auth.User{
		ID:           id,
		Username:     name,
		Roles:        []string{"user", "admin"},
		PasswordHash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA",
		CreatedAt:    at,
		UpdatedAt:    at.Add(time.Second),
	}
}

func mustCreate(t *testing.T, s user.Store, u auth.User) {
	t.Helper()
	if err := s.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("CreateUser(%s): %v", u.Username, err)
	}
}

func assertUser(t *testing.T, got, want auth.User) {
	t.Helper()
	if got.ID != want.ID || got.Username != want.Username || got.Disabled != want.Disabled ||
		got.PasswordHash != want.PasswordHash || !slices.Equal(got.Roles, want.Roles) ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Fatalf("user = %+v\nwant   %+v", got, want)
	}
}

func testCreateThenGet(t *testing.T, s user.Store) {
	ctx := context.Background()
	want := newUser("u1", "Alice")
	want.Disabled = true
	mustCreate(t, s, want)
	noRoles := newUser("u2", "bob")
	noRoles.Roles = nil
	noRoles.PasswordHash = ""
	mustCreate(t, s, noRoles)

	got, err := s.UserByID(ctx, "u1")
	if err != nil {
		t.Fatalf("UserByID: %v", err)
	}
	assertUser(t, got, want)
	got, err = s.UserByName(ctx, "Alice")
	if err != nil {
		t.Fatalf("UserByName: %v", err)
	}
	assertUser(t, got, want)
	got, err = s.UserByID(ctx, "u2")
	if err != nil {
		t.Fatalf("UserByID(no roles): %v", err)
	}
	assertUser(t, got, noRoles)
}

func testNameLookup(t *testing.T, s user.Store) {
	mustCreate(t, s, newUser("u1", "Alice"))
	for _, name := range []string{"Alice", "alice", "ALICE", "ａｌｉｃｅ", "ＡＬＩＣＥ", "  alice\t"} {
		t.Run(name, func(t *testing.T) {
			got, err := s.UserByName(context.Background(), name)
			if err != nil {
				t.Fatalf("UserByName(%q): %v", name, err)
			}
			if got.ID != "u1" || got.Username != "Alice" {
				t.Fatalf("UserByName(%q) = %s %q, want u1 \"Alice\"", name, got.ID, got.Username)
			}
		})
	}
	if _, err := s.UserByName(context.Background(), "alicia"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("UserByName(alicia) error = %v, want ErrNotFound", err)
	}
}

func testCreateConflict(t *testing.T, s user.Store) {
	mustCreate(t, s, newUser("u1", "Alice"))
	tests := []struct {
		name string
		u    auth.User
	}{
		{"SameName", newUser("u2", "Alice")},
		{"UpperCase", newUser("u2", "ALICE")},
		{"FullWidth", newUser("u2", "ａｌｉｃｅ")},
		{"SameID", newUser("u1", "carol")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.CreateUser(context.Background(), tt.u); !errors.Is(err, auth.ErrConflict) {
				t.Fatalf("CreateUser(%s, %q) error = %v, want ErrConflict", tt.u.ID, tt.u.Username, err)
			}
		})
	}
	got, err := s.UserByID(context.Background(), "u1")
	if err != nil || got.Username != "Alice" {
		t.Fatalf("after conflicts UserByID(u1) = %q, %v; want Alice unchanged", got.Username, err)
	}
}

func testMissing(t *testing.T, s user.Store) {
	ctx := context.Background()
	tests := []struct {
		name string
		call func() error
	}{
		{"UserByID", func() error { _, err := s.UserByID(ctx, "nope"); return err }},
		{"UserByName", func() error { _, err := s.UserByName(ctx, "nope"); return err }},
		{"UpdateUser", func() error { u := newUser("nope", "nope"); return s.UpdateUser(ctx, u, u.UpdatedAt) }},
		{"DeleteUser", func() error { return s.DeleteUser(ctx, "nope") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, auth.ErrNotFound) {
				t.Fatalf("error = %v, want ErrNotFound", err)
			}
		})
	}
}

func testList(t *testing.T, s user.Store) {
	ctx := context.Background()
	got, err := s.ListUsers(ctx)
	if err != nil {
		t.Fatalf("ListUsers(empty): %v", err)
	}
	if len(got) != 0 {
		t.Fatalf("ListUsers(empty) = %d users, want 0", len(got))
	}
	for _, u := range []auth.User{newUser("u1", "carol"), newUser("u2", "Alice"), newUser("u3", "bob")} {
		mustCreate(t, s, u)
	}
	got, err = s.ListUsers(ctx)
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	var names []string
	for _, u := range got {
		names = append(names, u.Username)
	}
	slices.Sort(names)
	if want := []string{"Alice", "bob", "carol"}; !slices.Equal(names, want) {
		t.Fatalf("ListUsers names = %v, want %v", names, want)
	}
}

func testUpdate(t *testing.T, s user.Store) {
	ctx := context.Background()
	mustCreate(t, s, newUser("u1", "Alice"))
	want := newUser("u1", "Alicia")
	want.Roles = []string{"ops"}
	want.Disabled = true
	want.PasswordHash = "$argon2id$new"
	want.UpdatedAt = at.Add(time.Hour)
	if err := s.UpdateUser(ctx, want, at.Add(time.Second)); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	got, err := s.UserByName(ctx, "ALICIA")
	if err != nil {
		t.Fatalf("UserByName(new name): %v", err)
	}
	assertUser(t, got, want)
	if _, err := s.UserByName(ctx, "Alice"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("UserByName(old name) error = %v, want ErrNotFound", err)
	}
	// A change of case only keeps the same key and is no conflict.
	want.Username = "ALICIA"
	if err := s.UpdateUser(ctx, want, want.UpdatedAt); err != nil {
		t.Fatalf("UpdateUser(case change): %v", err)
	}
}

func testUpdateConflict(t *testing.T, s user.Store) {
	ctx := context.Background()
	mustCreate(t, s, newUser("u1", "Alice"))
	mustCreate(t, s, newUser("u2", "bob"))
	if u := newUser("u2", "ALICE"); !errors.Is(s.UpdateUser(ctx, u, u.UpdatedAt), auth.ErrConflict) {
		t.Fatal("UpdateUser(rename to taken) did not conflict")
	}
	got, err := s.UserByID(ctx, "u2")
	if err != nil || got.Username != "bob" {
		t.Fatalf("after conflict UserByID(u2) = %q, %v; want bob unchanged", got.Username, err)
	}
}

// testUpdateStale: UpdateUser writes only over the record the caller read
// (its UpdatedAt): a change stored in between is not undone.
func testUpdateStale(t *testing.T, s user.Store) {
	ctx := context.Background()
	read := newUser("u1", "Alice")
	mustCreate(t, s, read)
	disabled := read
	disabled.Disabled = true
	disabled.UpdatedAt = at.Add(time.Minute)
	if err := s.UpdateUser(ctx, disabled, read.UpdatedAt); err != nil {
		t.Fatalf("UpdateUser(disable): %v", err)
	}
	// A second writer that read the user before the disable.
	rehashed := read
	rehashed.PasswordHash = "$argon2id$rehashed"
	rehashed.UpdatedAt = at.Add(time.Hour)
	err := s.UpdateUser(ctx, rehashed, read.UpdatedAt)
	if !errors.Is(err, user.ErrStale) || !errors.Is(err, auth.ErrConflict) {
		t.Fatalf("UpdateUser(stale) error = %v, want user.ErrStale (an auth.ErrConflict)", err)
	}
	got, err := s.UserByID(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	assertUser(t, got, disabled)
}

func testDelete(t *testing.T, s user.Store) {
	ctx := context.Background()
	mustCreate(t, s, newUser("u1", "Alice"))
	mustCreate(t, s, newUser("u2", "bob"))
	if err := s.DeleteUser(ctx, "u1"); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if _, err := s.UserByID(ctx, "u1"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("UserByID(deleted) error = %v, want ErrNotFound", err)
	}
	if _, err := s.UserByID(ctx, "u2"); err != nil {
		t.Fatalf("UserByID(other user) after delete: %v", err)
	}
	mustCreate(t, s, newUser("u3", "alice"))
}

func testConcurrentCreate(t *testing.T, s user.Store) {
	ok, conflicts := storetest.RaceConflicts(t, storetest.Workers, func(i int) error {
		return s.CreateUser(context.Background(), newUser(fmt.Sprintf("id-%02d", i), "Alice"))
	})
	if ok != 1 || conflicts != storetest.Workers-1 {
		t.Fatalf("concurrent CreateUser: %d ok, %d conflicts; want 1 and %d", ok, conflicts, storetest.Workers-1)
	}
}

func testSearch(t *testing.T, s user.Store) {
	ctx := context.Background()
	for i, name := range []string{"carol", "Alice", "bob", "alicia", "mal_ice", "malxice"} {
		if err := s.CreateUser(ctx, newUser(fmt.Sprintf("id-%d", i), name)); err != nil {
			t.Fatalf("CreateUser(%s): %v", name, err)
		}
	}
	names := func(q user.Query) []string {
		t.Helper()
		us, err := s.SearchUsers(ctx, q)
		if err != nil {
			t.Fatalf("SearchUsers(%+v): %v", q, err)
		}
		out := []string{}
		for _, u := range us {
			out = append(out, u.Username)
		}
		return out
	}
	tests := []struct {
		q    user.Query
		want []string
	}{
		{user.Query{Limit: 2}, []string{"Alice", "alicia"}},
		{user.Query{After: user.NameKey("alicia"), Limit: 2}, []string{"bob", "carol"}},
		{user.Query{After: user.NameKey("carol"), Limit: 10}, []string{"mal_ice", "malxice"}},
		{user.Query{Search: "ALI", Limit: 10}, []string{"Alice", "alicia"}},
		{user.Query{Search: "l_i", Limit: 10}, []string{"mal_ice"}}, // "_" is a literal, not LIKE's wildcard
		{user.Query{Search: "%", Limit: 10}, []string{}},
	}
	for _, tt := range tests {
		if got := names(tt.q); !slices.Equal(got, tt.want) {
			t.Errorf("SearchUsers(%+v) = %v, want %v", tt.q, got, tt.want)
		}
	}
}
