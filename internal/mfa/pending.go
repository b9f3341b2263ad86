package mfa

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/seal"
)

// PendingCookie is the name of the cookie between the password step and
// the second step (contract section 9).
const PendingCookie = "gatehouse_mfa"

// PendingTTL is how long the second step may take.
const PendingTTL = 5 * time.Minute

// Pending is the state between a correct password and the second factor.
// It lives only in a sealed cookie: it is never a session, carries no
// credential, and opens only as this cookie (associated data).
type Pending struct {
	UserID string `json:"u"`
	// Bind is a digest of the user's password hash and revocation count
	// (auth.User.Revocations) at the first factor (BindOf): the
	// cookie dies when the password changes, and with every revocation
	// counted since (a sign-out everywhere, a disable, even one undone).
	Bind    string    `json:"b"`
	AMR     []string  `json:"a"`
	Expires time.Time `json:"e"`
	Next    string    `json:"n,omitempty"`
	// Enrol: the user must enrol a factor before getting a session
	// (login.require_mfa_roles).
	Enrol bool `json:"r,omitempty"`
	// Method is the session method of the first factor ("oidc:corp");
	// empty means a password login.
	Method string `json:"m,omitempty"`
	// Provider, ProviderSID and ProviderSubject are the upstream session of
	// an OIDC first factor (its provider's name, sid and sub): the session
	// the second step makes is linked to it, so that the provider's
	// back-channel logout ends that session too.
	Provider        string `json:"p,omitempty"`
	ProviderSID     string `json:"ps,omitempty"`
	ProviderSubject string `json:"pu,omitempty"`

	// digest names the sealed cookie this pending login was read from
	// (FromRequest), for Service.EndPending. It is taken over the sealed
	// bytes, which no one without the key can vary, rather than over the
	// cookie's text, which base64 lets an attacker spell several ways.
	digest string
}

// PendingCodec seals and opens pending-login cookies.
type PendingCodec struct {
	sealer *seal.Sealer
	secure bool
	now    func() time.Time
}

// NewPendingCodec returns a codec sealing with a seal.KeySize-byte key.
// Instances behind one public_url must share key.
func NewPendingCodec(key []byte, secure bool, now func() time.Time) (*PendingCodec, error) {
	s, err := seal.New(key, nil)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &PendingCodec{sealer: s, secure: secure, now: now}, nil
}

var pendingAD = []byte("gatehouse-mfa-pending\x00" + PendingCookie)

// BindOf is the Bind value for a user: a digest of its ID, password
// hash and revocation count. The count makes a sign-out everywhere or a
// disable between the steps (user.Service.RevokeAll) end the pending
// login as it ends the user's sessions: the second step's own check
// (user.Service.ConfirmLogin) compares the count only from the second
// step's read of the user on.
func BindOf(u auth.User) string {
	sum := sha256.Sum256([]byte("gatehouse-mfa-bind\x00" + u.ID + "\x00" + u.PasswordHash + "\x00" + strconv.FormatInt(u.Revocations, 10)))
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

// Bound reports whether p still belongs to u: the same user, with the
// password and revocation count of the first factor (BindOf).
func (p Pending) Bound(u auth.User) bool {
	return p.UserID == u.ID && subtle.ConstantTimeCompare([]byte(p.Bind), []byte(BindOf(u))) == 1
}

// Set writes the pending cookie for u after the password step.
func (c *PendingCodec) Set(w http.ResponseWriter, u auth.User, amr []string, next string, enrol bool) error {
	return c.Start(w, u, Pending{AMR: amr, Next: next, Enrol: enrol})
}

// Start writes the pending cookie for u after a first factor: p carries
// the amr so far, next, Enrol and Method; its UserID, Bind and Expires
// are set here. A cookie that would exceed auth.MaxCookieSize (a long next
// with a provider's long sid and sub) leaves next out: the second step's
// page carries next in its URL. When even that is too large, nothing is
// set and the error wraps ErrPendingTooLarge.
func (c *PendingCodec) Start(w http.ResponseWriter, u auth.User, p Pending) error {
	p.UserID, p.Bind, p.Expires = u.ID, BindOf(u), c.now().Add(PendingTTL).UTC()
	value, err := c.seal(p)
	if err == nil && !c.fits(value) && p.Next != "" {
		p.Next = ""
		value, err = c.seal(p)
	}
	if err != nil {
		return err
	}
	if !c.fits(value) {
		return fmt.Errorf("pending login of %d bytes: %w", len(value), ErrPendingTooLarge)
	}
	c.set(w, value, int(PendingTTL/time.Second))
	return nil
}

// seal returns p as a sealed cookie value.
func (c *PendingCodec) seal(p Pending) (string, error) {
	plain, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("pending login: %w", err)
	}
	sealed, err := c.sealer.Seal(plain, pendingAD)
	if err != nil {
		return "", fmt.Errorf("pending login: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// fits reports whether every pending cookie with value stays within
// auth.MaxCookieSize.
func (c *PendingCodec) fits(value string) bool {
	for _, p := range pendingPaths {
		if len(c.cookie(value, p, int(PendingTTL/time.Second)).String()) > auth.MaxCookieSize {
			return false
		}
	}
	return true
}

// Clear expires the pending cookie (every path it was set on).
func (c *PendingCodec) Clear(w http.ResponseWriter) { c.set(w, "", -1) }

// ClearSent is Clear when r carries a pending cookie: a login that starts
// a session ends the second step the browser left pending (perhaps another
// user's), which would otherwise take precedence over the new session for
// the rest of its PendingTTL.
func (c *PendingCodec) ClearSent(w http.ResponseWriter, r *http.Request) {
	if len(r.CookiesNamed(PendingCookie)) > 0 {
		c.Clear(w)
	}
}

// pendingPaths are the paths the pending cookie is set on: the second-step
// page and gatehouse's endpoints, which alone read it. The cookie is a
// credential (with an enrolment pending it earns a session), so it must not
// ride along to the applications behind the gateway or a front proxy, as
// Path=/ made it do. No request path is under both, so a request carries
// one copy.
var pendingPaths = [...]string{"/auth/", "/login/mfa"}

// set writes one pending cookie per pendingPaths entry.
func (c *PendingCodec) set(w http.ResponseWriter, value string, maxAge int) {
	for _, p := range pendingPaths {
		http.SetCookie(w, c.cookie(value, p, maxAge))
	}
}

func (c *PendingCodec) cookie(value, path string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: PendingCookie, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode}
}

// FromRequest opens the request's pending cookie; auth.ErrUnauthenticated
// when there is none, it does not authenticate, it repeats, or it expired.
func (c *PendingCodec) FromRequest(r *http.Request) (Pending, error) {
	cookies := r.CookiesNamed(PendingCookie)
	if len(cookies) != 1 || len(cookies[0].Value) > auth.MaxCookieSize {
		return Pending{}, fmt.Errorf("%w: no pending login", auth.ErrUnauthenticated)
	}
	raw, err := base64.RawURLEncoding.DecodeString(cookies[0].Value)
	if err != nil {
		return Pending{}, fmt.Errorf("%w: no pending login", auth.ErrUnauthenticated)
	}
	plain, err := c.sealer.Open(raw, pendingAD)
	if err != nil {
		return Pending{}, fmt.Errorf("%w: no pending login", auth.ErrUnauthenticated)
	}
	var p Pending
	if err := json.Unmarshal(plain, &p); err != nil || !c.now().Before(p.Expires) {
		return Pending{}, fmt.Errorf("%w: pending login expired", auth.ErrUnauthenticated)
	}
	sum := sha256.Sum256(append([]byte("gatehouse-mfa-pending-end\x00"), raw...))
	p.digest = base64.RawURLEncoding.EncodeToString(sum[:])
	return p, nil
}
