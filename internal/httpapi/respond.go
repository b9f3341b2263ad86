package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httperr"
	"github.com/gatehouse-auth/gatehouse/internal/jsonmember"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	if w.Header().Get("Cache-Control") == "" {
		w.Header().Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// isJSON reports whether the request body is JSON.
func isJSON(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/json"
}

// isForm reports whether the request body is an HTML form.
func isForm(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data"
}

// decodeJSON reads one JSON object into v, refusing unknown trailing data
// and a top-level member named twice (encoding/json would keep the last,
// matching names without regard to case, so {"username":"a","USERNAME":"b"}
// counts as a repeat too; jsonmember.RepeatedTopLevel): a body that two
// readers could read as different requests is refused, as a form with a
// repeated parameter is.
func decodeJSON(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		if d := unread(err); d != "" {
			return errBody(d)
		}
		return errBody("unreadable body")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return errBody("malformed JSON body")
	}
	// One value only: white space may follow it, nothing else.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errBody("data after the JSON body")
	}
	if rep, ok := jsonmember.RepeatedTopLevel(b); ok {
		return errRepeated("member", rep.Name)
	}
	return nil
}

// unread describes a body that was not read to its end: over the
// MaxBodyBytes cap, or not received within BodyTimeout (own); "" for any
// other error, a body that was read but does not parse among them.
func unread(err error) string {
	switch {
	case errors.As(err, new(*http.MaxBytesError)):
		return "request body too large"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "request body not received in time"
	}
	return ""
}

// errBody is the 400 invalid_request of a body gatehouse cannot read as
// one request, with detail as its error_description so that the client
// learns what to fix. detail is gatehouse's own sentence, never a value
// sent, which may be a password.
func errBody(detail string) error {
	return httperr.Describe(fmt.Errorf("%w: %s", auth.ErrInvalidInput, detail), detail)
}

// describeInput gives an auth.ErrInvalidInput from a service (a login's
// password over the length limit) its message as error_description, as
// errBody does for the refusals of a body; other errors are returned as
// they are.
func describeInput(err error) error {
	if errors.Is(err, auth.ErrInvalidInput) {
		return httperr.Describe(err, httperr.InputDetail(err))
	}
	return err
}

// errRepeated is errBody for a member or parameter named twice (member
// "username" is repeated), as the admin API and the token endpoint name
// one. The name is the client's own, cut to 64 characters.
func errRepeated(kind, name string) error {
	return errBody(fmt.Sprintf("%s %.64q is repeated", kind, name))
}

// readBody reads a request body that may be an HTML form or JSON: JSON is
// decoded into in; for anything else the form is parsed and fromForm copies
// its fields into in. It reports whether the body was a form, so that the
// caller answers in kind. A parameter sent twice is refused
// (auth.ErrInvalidInput), never "first wins", as the JSON body refuses a
// member twice and the token endpoint a repeated parameter (RFC 6749 §3.2).
func readBody(r *http.Request, in any, fromForm func(url.Values)) (form bool, err error) {
	if isJSON(r) {
		return false, decodeJSON(r, in)
	}
	if err := r.ParseForm(); err != nil {
		if d := unread(err); d != "" {
			return true, errBody(d)
		}
		return true, fmt.Errorf("%w: malformed form body (%w)", auth.ErrInvalidInput, err)
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return true, errRepeated("parameter", k)
		}
	}
	fromForm(r.PostForm)
	return true, nil
}

// doneOnAccount ends a successful change that /account's forms and the JSON
// API share: a form POST goes back to /account (303), the API gets 204.
func doneOnAccount(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// toLogin sends the browser to the login page, to come back to next (a
// same-origin path, already checked) once signed in: status is 303 in
// answer to a form's POST, 302 for a page.
func toLogin(w http.ResponseWriter, r *http.Request, next string, status int) {
	http.Redirect(w, r, "/login?next="+url.QueryEscape(next), status)
}

type userJSON struct {
	ID       string   `json:"id"`
	Username string   `json:"username"`
	Roles    []string `json:"roles"`
}

func toUserJSON(u auth.User) userJSON {
	roles := u.Roles
	if roles == nil {
		roles = []string{}
	}
	return userJSON{ID: u.ID, Username: u.Username, Roles: roles}
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }
