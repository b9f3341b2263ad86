package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httperr"
	"github.com/gatehouse-auth/gatehouse/internal/jsonmember"
	"github.com/gatehouse-auth/gatehouse/internal/keys"
	"github.com/gatehouse-auth/gatehouse/internal/session"
	"github.com/gatehouse-auth/gatehouse/internal/token"
	"github.com/gatehouse-auth/gatehouse/internal/user"
)

// Prefix is where the JSON API lives.
const Prefix = "/admin/api/v1"

// routes lists every admin endpoint (docs/admin.md has the table).
func (h *Handler) routes() {
	var methods httperr.MethodSet // of the API's patterns
	api := func(pattern string, fn func(http.ResponseWriter, *http.Request, auth.Principal) error) {
		method, path, _ := strings.Cut(pattern, " ")
		methods.Add(pattern)
		h.mux.Handle(method+" "+Prefix+path, h.api(fn))
	}
	api("GET /users", h.listUsers)
	api("POST /users", h.createUser)
	api("GET /users/{name}", h.showUser)
	api("DELETE /users/{name}", h.deleteUser)
	api("POST /users/{name}/disable", h.setDisabled(true))
	api("POST /users/{name}/enable", h.setDisabled(false))
	api("PUT /users/{name}/roles", h.setRoles)
	api("POST /users/{name}/logout", h.logoutUser)
	api("GET /users/{name}/sessions", h.listSessions)
	api("DELETE /users/{name}/sessions/{id}", h.revokeSession)
	api("GET /users/{name}/families", h.listFamilies)
	api("DELETE /users/{name}/families/{id}", h.revokeFamily)
	api("GET /users/{name}/factors", h.listFactors)
	api("GET /users/{name}/identities", h.listIdentities)
	api("POST /users/{name}/identities", h.linkIdentity)
	api("DELETE /users/{name}/identities", h.unlinkIdentity)
	api("POST /users/{name}/mfa-reset", h.resetFactors)
	api("PUT /users/{name}/password", h.setPassword)
	api("GET /clients", h.listClients)
	api("POST /clients", h.createClient)
	api("GET /clients/{id}", h.showClient)
	api("DELETE /clients/{id}", h.deleteClient)
	api("POST /clients/{id}/secret", h.rotateClientSecret)
	api("GET /keys", h.listKeys)
	api("POST /keys/rotate", h.rotateKey)
	api("GET /audit", h.listAudit)
	api("GET /config", h.showConfig)
	api("POST /explain", h.explain)
	// Authenticated first: unknown paths and methods reveal nothing to
	// outsiders. Then, as for gatehouse's own endpoints, a path an endpoint
	// serves with other methods answers 405 with Allow, and any other 404.
	const catchAll = "/admin/api/"
	h.mux.Handle(catchAll, h.api(func(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
		if allow := methods.Allowed(h.mux, r, catchAll); allow != "" {
			httperr.MethodNotAllowed(w, allow)
			return nil
		}
		return auth.ErrNotFound
	}))
	if h.d.Console {
		h.consoleRoutes()
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads one JSON object into v; unknown fields are refused, so a
// misspelt key is an error rather than a silent default. So is a member
// named twice in any object of the body, exactly or in names that differ
// only in case ({"roles":["user"],"Roles":["admin"]}): encoding/json would
// keep the last, where a proxy or firewall in front may have judged the
// first (jsonmember.Repeated). The description names the member.
func decode(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return errInput("request body too large")
		}
		if errors.Is(err, os.ErrDeadlineExceeded) { // httpapi.BodyTimeout
			return errInput("request body not received in time")
		}
		return errInput("unreadable body")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if name, ok := unknownMember(err); ok {
			return errInput("unknown member %.64q", name)
		}
		return errInput("malformed JSON body")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errInput("trailing data after the JSON body")
	}
	if rep, ok := jsonmember.Repeated(b); ok {
		if rep.In == "" {
			return errInput("member %.64q is repeated", rep.Name)
		}
		return errInput("member %.64q of %.64q is repeated", rep.Name, rep.In)
	}
	return nil
}

// unknownMember returns the key DisallowUnknownFields refused, so that the
// description names it (encoding/json has no error type for it, only the
// text "json: unknown field \"name\"").
func unknownMember(err error) (string, bool) {
	quoted, ok := strings.CutPrefix(err.Error(), "json: unknown field ")
	if !ok {
		return "", false
	}
	name, uerr := strconv.Unquote(quoted)
	return name, uerr == nil
}

// User is a user on the admin API. It never holds the password hash.
type User struct {
	ID        string   `json:"id"`
	Username  string   `json:"username"`
	Roles     []string `json:"roles"`
	Disabled  bool     `json:"disabled"`
	CreatedAt string   `json:"created_at"`
	UpdatedAt string   `json:"updated_at"`
}

func toUser(u auth.User) User {
	return User{ID: u.ID, Username: u.Username, Roles: nonNil(u.Roles), Disabled: u.Disabled,
		CreatedAt: rfc3339(u.CreatedAt), UpdatedAt: rfc3339(u.UpdatedAt)}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func limitParam(q url.Values) (int, error) {
	v := q.Get("limit")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, errInput("limit must be a positive integer")
	}
	return n, nil
}

// searchUsers is the listing both the API and the console page use.
func (h *Handler) searchUsers(r *http.Request) ([]User, string, error) {
	q := r.URL.Query()
	limit, err := limitParam(q)
	if err != nil {
		return nil, "", err
	}
	limit = user.PageLimit(limit)
	us, err := h.d.Users.Search(r.Context(), user.Query{Search: q.Get("q"), After: q.Get("after"), Limit: limit})
	if err != nil {
		return nil, "", err
	}
	out := make([]User, 0, len(us))
	for _, u := range us {
		out = append(out, toUser(u))
	}
	next := ""
	if len(us) == limit {
		next = user.NameKey(us[len(us)-1].Username)
	}
	return out, next, nil
}

// listUsers: GET /users?q=&after=&limit= → {"users":[…],"next":"…"}; next
// is the after= of the following page, "" on the last one.
func (h *Handler) listUsers(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	us, next, err := h.searchUsers(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": us, "next": next})
	return nil
}

func (h *Handler) createUser(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	var in struct {
		Username string   `json:"username"`
		Password string   `json:"password"`
		Roles    []string `json:"roles"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	u, err := h.createUserNamed(r, in.Username, in.Password, in.Roles)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toUser(u))
	return nil
}

// createUserNamed creates a user (user.Service.Create, as `gatehouse user
// add`); a taken name is the 409 whose description names it, as a taken
// client_id's does.
func (h *Handler) createUserNamed(r *http.Request, name, password string, roles []string) (auth.User, error) {
	u, err := h.d.Users.Create(r.Context(), name, password, roles)
	if errors.Is(err, auth.ErrConflict) {
		return auth.User{}, httperr.Describe(err, fmt.Sprintf("username %s is taken (names that differ only in case or width are the same account)", user.CleanName(name)))
	}
	return u, err
}

func (h *Handler) showUser(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	u, err := h.pathUser(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toUser(u))
	return nil
}

func (h *Handler) deleteUser(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	if err := h.deleteUserKeepingAdmin(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) setDisabled(disabled bool) func(http.ResponseWriter, *http.Request, auth.Principal) error {
	return func(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
		u, err := h.setDisabledKeepingAdmin(r.Context(), r.PathValue("name"), disabled)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, toUser(u))
		return nil
	}
}

func (h *Handler) setRoles(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	var in struct {
		Roles *[]string `json:"roles"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Roles == nil {
		// A missing member (or null) is not "no roles": the roles are
		// replaced, so only an explicit [] removes them all.
		return errInput(`member "roles" is required (send [] to remove every role)`)
	}
	u, err := h.setRolesKeepingAdmin(r.Context(), r.PathValue("name"), *in.Roles)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toUser(u))
	return nil
}

// logoutUser signs the user out everywhere: every session and refresh
// family (as `gatehouse user logout`).
func (h *Handler) logoutUser(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	u, err := h.pathUser(r)
	if err != nil {
		return err
	}
	if _, err := h.d.Users.LogoutEverywhere(r.Context(), u.Username, "admin"); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Session is a session on the admin API.
type Session struct {
	ID         string `json:"id"`
	CreatedAt  string `json:"created_at"`
	LastSeenAt string `json:"last_seen_at"`
	ExpiresAt  string `json:"expires_at"`
	IP         string `json:"ip"`
	UserAgent  string `json:"user_agent"`
	Method     string `json:"method"`
}

func toSession(rec session.Record) Session {
	end := rec.ExpiresAt
	if rec.IdleExpiresAt.Before(end) {
		end = rec.IdleExpiresAt
	}
	return Session{ID: rec.ID, CreatedAt: rfc3339(rec.CreatedAt), LastSeenAt: rfc3339(rec.LastSeenAt),
		ExpiresAt: rfc3339(end), IP: rec.IP, UserAgent: rec.UserAgent, Method: rec.Method}
}

func (h *Handler) userSessions(r *http.Request, u auth.User) ([]Session, error) {
	recs, err := h.d.Sessions.Manager().List(r.Context(), u.ID)
	if err != nil {
		return nil, err
	}
	out := make([]Session, 0, len(recs))
	for _, rec := range recs {
		out = append(out, toSession(rec))
	}
	return out, nil
}

func (h *Handler) listSessions(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	u, err := h.pathUser(r)
	if err != nil {
		return err
	}
	ss, err := h.userSessions(r, u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": ss})
	return nil
}

// revokeUserSession ends one session of u; a session of another user is
// auth.ErrNotFound, like an unknown one.
func (h *Handler) revokeUserSession(r *http.Request, u auth.User, id string) error {
	if err := h.d.Sessions.Manager().RevokeOwned(r.Context(), u.ID, id); err != nil {
		return err
	}
	h.d.Audit.Record(r.Context(), audit.Event{Type: audit.SessionRevoked, UserID: u.ID, Username: u.Username,
		Details: map[string]string{"session": id}})
	return nil
}

func (h *Handler) revokeSession(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	u, err := h.pathUser(r)
	if err != nil {
		return err
	}
	if err := h.revokeUserSession(r, u, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Family is a refresh family (one token grant) on the admin API.
type Family struct {
	ID        string `json:"id"`
	ClientID  string `json:"client_id"`
	CreatedAt string `json:"created_at"`
	ExpiresAt string `json:"expires_at"`
	RotatedAt string `json:"rotated_at"`
	RevokedAt string `json:"revoked_at"`
	Revoked   bool   `json:"revoked"`
}

func toFamily(f token.Family) Family {
	return Family{ID: f.ID, ClientID: f.ClientID, CreatedAt: rfc3339(f.CreatedAt), ExpiresAt: rfc3339(f.ExpiresAt),
		RotatedAt: rfc3339(f.RotatedAt), RevokedAt: rfc3339(f.RevokedAt), Revoked: !f.RevokedAt.IsZero()}
}

func (h *Handler) userFamilies(r *http.Request, u auth.User) ([]Family, error) {
	fams, err := h.d.Grants.Families(r.Context(), u.ID)
	if err != nil {
		return nil, err
	}
	out := make([]Family, 0, len(fams))
	for _, f := range fams {
		out = append(out, toFamily(f))
	}
	return out, nil
}

func (h *Handler) listFamilies(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	u, err := h.pathUser(r)
	if err != nil {
		return err
	}
	fams, err := h.userFamilies(r, u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"families": fams})
	return nil
}

// revokeUserFamily revokes one refresh family of u (token.Grants audits
// token.revoked, naming u); a family of another user is auth.ErrNotFound,
// like an unknown one, and one revoked already is left as it is (nil).
func (h *Handler) revokeUserFamily(r *http.Request, u auth.User, id string) error {
	return h.d.Grants.RevokeFamilyOf(audit.WithUser(r.Context(), u.ID, u.Username), u.ID, id)
}

func (h *Handler) revokeFamily(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	u, err := h.pathUser(r)
	if err != nil {
		return err
	}
	if err := h.revokeUserFamily(r, u, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Key is a signing key on the admin API (never key material).
type Key struct {
	KID         string `json:"kid"`
	Algorithm   string `json:"algorithm"`
	State       string `json:"state"`
	CreatedAt   string `json:"created_at"`
	ActivatedAt string `json:"activated_at"`
	RetiresAt   string `json:"retires_at"`
}

func (h *Handler) keyList() []Key {
	infos := h.d.Keys.List()
	out := make([]Key, 0, len(infos))
	for _, k := range infos {
		out = append(out, Key{KID: k.KID, Algorithm: k.Algorithm, State: k.State, CreatedAt: rfc3339(k.CreatedAt),
			ActivatedAt: rfc3339(k.ActivatedAt), RetiresAt: rfc3339(k.RetiresAt)})
	}
	return out
}

func (h *Handler) listKeys(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	writeJSON(w, http.StatusOK, map[string]any{"keys": h.keyList()})
	return nil
}

// rotateKey makes a new signing key active (keys.Set audits key.rotated).
// HS256 answers 400: its secret lives in configuration.
func (h *Handler) rotateKey(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	kid, err := h.d.Keys.Rotate(r.Context())
	if err != nil {
		if errors.Is(err, keys.ErrUnsupported) {
			return errInput("HS256 keys come from tokens.hmac_secret and cannot be rotated here")
		}
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"kid": kid})
	return nil
}

// Event is an audit event on the admin API.
type Event struct {
	ID        int64             `json:"id"`
	Time      string            `json:"time"`
	Type      string            `json:"type"`
	UserID    string            `json:"user_id"`
	Username  string            `json:"username"`
	IP        string            `json:"ip"`
	RequestID string            `json:"request_id"`
	Details   map[string]string `json:"details"`
}

// auditFilter reads user (a username or user ID, which auditPage
// resolves), type, since, until (RFC 3339), before (the previous page's
// next) and limit.
func auditFilter(q url.Values) (audit.Filter, error) {
	f := audit.Filter{UserID: q.Get("user"), Type: q.Get("type")}
	if f.Type != "" && !audit.KnownType(f.Type) {
		// A typo would match nothing and look like an empty trail.
		return f, errInput("type must be an audit event type: %s", strings.Join(audit.Types(), ", "))
	}
	for _, p := range []struct {
		key string
		dst *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(p.key); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil && strings.Contains(v, " ") {
				// "+01:00" written into a URL arrives as " 01:00".
				return f, errInput("%s must be an RFC 3339 time such as 2026-01-02T15:04:05Z; it holds a space, which is how a query string reads '+': send the offset's + as %%2B", p.key)
			}
			if err != nil {
				return f, errInput("%s must be an RFC 3339 time such as 2026-01-02T15:04:05Z", p.key)
			}
			*p.dst = t
		}
	}
	if err := f.CheckRange(); err != nil {
		return f, errInput("since must be before until (since is inclusive, until exclusive): %v", err)
	}
	if v := q.Get("before"); v != "" {
		c, err := parseCursor(v)
		if err != nil {
			return f, err
		}
		f.Before = c
	}
	limit, err := limitParam(q)
	if err != nil {
		return f, err
	}
	f.Limit = user.PageLimit(limit)
	return f, nil
}

// A cursor is "<unix microseconds>.<event id>" of the last event of a page.
func formatCursor(e audit.Event) string {
	return strconv.FormatInt(e.Time.UnixMicro(), 10) + "." + strconv.FormatInt(e.ID, 10)
}

func parseCursor(v string) (audit.Cursor, error) {
	a, b, ok := strings.Cut(v, ".")
	us, err1 := strconv.ParseInt(a, 10, 64)
	id, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || id < 1 {
		return audit.Cursor{}, errInput("before must be the next value of a previous page")
	}
	return audit.Cursor{Time: time.UnixMicro(us), ID: id}, nil
}

func (h *Handler) auditPage(r *http.Request) ([]Event, string, error) {
	f, err := auditFilter(r.URL.Query())
	if err != nil {
		return nil, "", err
	}
	if f.UserID != "" {
		// user= is a username or an ID, as `gatehouse audit --user` takes
		// a name: an ID-form value is always an ID (user.Service.IDOf). A
		// value that names no user is not an ID either (every ID has the
		// ID form): it matches no event, an empty page as for any filter.
		id, err := h.d.Users.IDOf(r.Context(), f.UserID)
		switch {
		case errors.Is(err, auth.ErrNotFound):
			return []Event{}, "", nil
		case err != nil:
			return nil, "", err
		}
		f.UserID = id
	}
	evs, err := h.d.Trail.ListAudit(r.Context(), f)
	if err != nil {
		return nil, "", fmt.Errorf("list audit events: %w", err)
	}
	out := make([]Event, 0, len(evs))
	for _, e := range evs {
		d := e.Details
		if d == nil {
			d = map[string]string{}
		}
		out = append(out, Event{ID: e.ID, Time: e.Time.UTC().Format(time.RFC3339Nano), Type: e.Type, UserID: e.UserID,
			Username: e.Username, IP: e.IP, RequestID: e.RequestID, Details: d})
	}
	next := ""
	if len(evs) == f.Limit {
		next = formatCursor(evs[len(evs)-1])
	}
	return out, next, nil
}

func (h *Handler) listAudit(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	evs, next, err := h.auditPage(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": evs, "next": next})
	return nil
}

// showConfig answers the running configuration as `gatehouse config check`
// prints it: YAML with every secret masked.
func (h *Handler) showConfig(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	writeJSON(w, http.StatusOK, map[string]any{"yaml": h.d.Config.Masked()})
	return nil
}

// ExplainRequest describes a request for POST /explain.
type ExplainRequest struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
}

// Request builds the described request for ctx (POST /explain and
// `gatehouse explain` both use it) as net/http's server would read it off
// the wire, so that the gateway judges the same request: the URL is a
// request-target, parsed with url.ParseRequestURI as the server parses one
// ("//app.example.com/x" is a path, not a host), and an absolute one must be
// http(s) (the gateway refuses or cannot route the others). The host judged is the
// absolute URL's host, else the Host header; a path without a Host header
// names no host (only routes without match.host can match it).
func (e ExplainRequest) Request(ctx context.Context) (*http.Request, error) {
	if e.Method == "" {
		e.Method = http.MethodGet
	}
	u, err := url.ParseRequestURI(e.URL)
	if err != nil || u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https" {
		return nil, errInput("url must be a path such as /api/x or an absolute http(s) URL")
	}
	req, err := http.NewRequestWithContext(ctx, e.Method, "/", nil)
	if err != nil {
		return nil, errInput("method or url is malformed")
	}
	req.URL, req.RequestURI = u, e.URL
	for k, v := range e.Headers {
		req.Header.Add(k, v)
	}
	// The server moves Host out of the header map into r.Host; an
	// absolute-form target's host overrides it (RFC 9112 section 3.2.2).
	req.Host = u.Host
	if req.Host == "" {
		req.Host = req.Header.Get("Host")
	}
	req.Header.Del("Host")
	return req, nil
}

func (h *Handler) explain(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	var in ExplainRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	req, err := in.Request(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.d.Explain(req))
	return nil
}

// pathUser is the user named by the {name} path segment.
func (h *Handler) pathUser(r *http.Request) (auth.User, error) {
	return h.d.Users.Get(r.Context(), r.PathValue("name"))
}
