package client

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// secretBytes is the entropy of a generated secret: 256 bits.
const secretBytes = 32

// Store persists clients registered at run time.
//
// Errors: auth.ErrNotFound, auth.ErrConflict, auth.ErrUnavailable (wrapped).
type Store interface {
	CreateClient(ctx context.Context, c Client) error
	Client(ctx context.Context, id string) (Client, error)
	ListClients(ctx context.Context) ([]Client, error)
	DeleteClient(ctx context.Context, id string) error
	// SetClientSecret replaces the secret hash and the token sid of a
	// confidential client whose token sid is still oldSID; auth.ErrNotFound
	// when there is no such client or another rotation replaced oldSID.
	SetClientSecret(ctx context.Context, id, hash, oldSID, newSID string, at time.Time) error
}

// Registry answers for config clients first (read-only) and then for the
// store's.
type Registry struct {
	store  Store
	static map[string]Client
	order  []string
	now    func() time.Time
	audit  *audit.Logger
	// deleted ends what a deleted client was given (WithOnDelete).
	deleted func(ctx context.Context, id, tokenSID string) error
	// rotated ends the tokens a client got with its old secret
	// (WithOnSecretRotated).
	rotated func(ctx context.Context, id, tokenSID string) error
	// internal lists the audiences a client may not have (CheckAudience).
	internal func() []string

	// The origins of the clients' redirect URIs (AllowsOrigin): the last
	// listing, the lock of whoever lists again, and the generation that
	// Add and Delete bump to make the listing stale.
	origins    atomic.Pointer[originSet]
	originsMu  sync.Mutex
	originsGen atomic.Uint64
}

// Option configures a Registry.
type Option func(*Registry)

// WithAudit records every change (client.created, client.deleted,
// client.secret_rotated; never a secret). The acting administrator, when
// the request names one, is added by the logger.
func WithAudit(a *audit.Logger) Option { return func(r *Registry) { r.audit = a } }

// WithOnDelete has Delete call f once a client is deleted, to end what it
// was given: its refresh families and their access tokens, and its own
// access tokens, whose sid is tokenSID ("" for a public client)
// (token.Grants RevokeClient). The store's DeleteClient has removed its
// consents and authorization codes by then.
func WithOnDelete(f func(ctx context.Context, id, tokenSID string) error) Option {
	return func(r *Registry) { r.deleted = f }
}

// WithOnSecretRotated has RotateSecret call f once a client has a new
// secret, to end the access tokens it got with the old one, whose sid is
// tokenSID (token.Grants RevokeClientTokens).
func WithOnSecretRotated(f func(ctx context.Context, id, tokenSID string) error) Option {
	return func(r *Registry) { r.rotated = f }
}

// WithInternalAudiences has Add refuse a client whose audience is one of
// f(): the names of the current forward: jwt routes (CheckAudience).
func WithInternalAudiences(f func() []string) Option {
	return func(r *Registry) { r.internal = f }
}

// WithClock sets the clock of creation times and of the origin set's age
// (default time.Now).
func WithClock(now func() time.Time) Option { return func(r *Registry) { r.now = now } }

// NewRegistry returns a registry over store and the clients of the config
// file, which must already have been validated (config.Load does).
func NewRegistry(store Store, static []Client, opts ...Option) *Registry {
	r := &Registry{store: store, static: map[string]Client{}, now: time.Now}
	for _, o := range opts {
		o(r)
	}
	for _, c := range static {
		c.FromConfig, c.Registration = true, "" // one registration for as long as the file declares it
		if c.Secret != "" {
			c.SecretHash = HashSecret(c.Secret)
			c.Secret = ""
		}
		r.static[c.ID] = c
		r.order = append(r.order, c.ID)
	}
	return r
}

// Lookup returns client id, or an error wrapping auth.ErrNotFound.
func (r *Registry) Lookup(ctx context.Context, id string) (Client, error) {
	if c, ok := r.static[id]; ok {
		return c, nil
	}
	if !idPattern.MatchString(id) {
		return Client{}, fmt.Errorf("client %q: %w", id, auth.ErrNotFound)
	}
	c, err := r.store.Client(ctx, id)
	if err != nil {
		return Client{}, fmt.Errorf("client %q: %w", id, err)
	}
	return c, nil
}

// List returns the config clients, then the stored ones.
func (r *Registry) List(ctx context.Context) ([]Client, error) {
	out := make([]Client, 0, len(r.order))
	for _, id := range r.order {
		out = append(out, r.static[id])
	}
	stored, err := r.store.ListClients(ctx)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	return append(out, stored...), nil
}

// Add registers c and returns its secret (confidential clients; "" for
// public ones) — the only time the secret is ever shown. Problems with c
// wrap auth.ErrInvalidInput; a taken ID wraps auth.ErrConflict, and also
// ErrReadOnly when the config file declares it.
func (r *Registry) Add(ctx context.Context, c Client) (string, error) {
	c.FromConfig, c.Secret, c.SecretFile, c.SecretHash, c.TokenSID, c.Registration = false, "", "", "", "", ""
	errs := Validate(c)
	if r.internal != nil {
		errs = append(errs, CheckAudience(c, r.internal())...)
	}
	if len(errs) > 0 {
		return "", fmt.Errorf("add client: %w: %w", auth.ErrInvalidInput, errors.Join(errs...))
	}
	if _, ok := r.static[c.ID]; ok {
		return "", fmt.Errorf("add client %q: %w: %w", c.ID, ErrReadOnly, auth.ErrConflict)
	}
	secret := ""
	if c.Type == Confidential {
		var err error
		if secret, err = NewSecret(); err != nil {
			return "", fmt.Errorf("add client: %w", err)
		}
		c.SecretHash = HashSecret(secret)
		if c.TokenSID, err = newTokenSID(); err != nil {
			return "", fmt.Errorf("add client: %w", err)
		}
	}
	var err error
	if c.Registration, err = newRegistration(); err != nil {
		return "", fmt.Errorf("add client: %w", err)
	}
	c.CreatedAt = r.now().UTC().Truncate(time.Microsecond)
	c.UpdatedAt = c.CreatedAt
	if err := r.store.CreateClient(ctx, c); err != nil {
		return "", fmt.Errorf("add client: %w", err)
	}
	r.originsChanged()
	r.record(ctx, audit.ClientCreated, c.ID, map[string]string{"type": c.Type})
	return secret, nil
}

// Delete removes a stored client with its consents and authorization
// codes, then ends its tokens (WithOnDelete); config clients wrap
// ErrReadOnly. An unknown client wraps auth.ErrNotFound and ends nothing:
// the tokens of built-in client IDs (gatehouse's own password grant) are
// never a stored client's.
func (r *Registry) Delete(ctx context.Context, id string) error {
	if _, ok := r.static[id]; ok {
		return fmt.Errorf("delete client %q: %w", id, ErrReadOnly)
	}
	c, err := r.Lookup(ctx, id)
	if err != nil {
		return fmt.Errorf("delete: %w", err) // Lookup names the client
	}
	if err := r.store.DeleteClient(ctx, id); err != nil {
		return fmt.Errorf("delete client %q: %w", id, err)
	}
	r.originsChanged()
	r.record(ctx, audit.ClientDeleted, id, nil)
	if r.deleted != nil {
		if err := r.deleted(ctx, id, c.TokenSID); err != nil {
			return fmt.Errorf("delete client %q: deleted, but ending its tokens failed (register it again and delete it to retry): %w", id, err)
		}
	}
	return nil
}

// rotateTries bounds how often RotateSecret reads the client again after
// a concurrent rotation replaced the token sid it read.
const rotateTries = 5

// RotateSecret gives a stored confidential client a new secret and returns
// it; the old one stops working at once, and so do the access tokens the
// client got with it (WithOnSecretRotated). The secret is replaced only if
// the token sid is still the one read, so that two rotations at once each
// deny the sid they replaced: the loser reads the client again.
func (r *Registry) RotateSecret(ctx context.Context, id string) (string, error) {
	for try := 1; ; try++ {
		secret, old, err := r.rotateOnce(ctx, id)
		if errors.Is(err, auth.ErrNotFound) && try < rotateTries {
			continue // deleted (Lookup says so) or rotated meanwhile
		}
		if err != nil {
			return "", err
		}
		r.record(ctx, audit.ClientSecret, id, nil)
		if r.rotated != nil && old != "" {
			if err := r.rotated(ctx, id, old); err != nil {
				return "", fmt.Errorf("rotate secret of %q: rotated, but ending the old secret's access tokens failed (they live until they expire, tokens.access_ttl at most): %w", id, err)
			}
		}
		return secret, nil
	}
}

// rotateOnce reads the client and replaces its secret and token sid if the
// sid is still the one read; it returns the new secret and the replaced
// sid (auth.ErrNotFound: deleted, or rotated meanwhile).
func (r *Registry) rotateOnce(ctx context.Context, id string) (secret, old string, err error) {
	c, err := r.Lookup(ctx, id)
	if err != nil {
		return "", "", err
	}
	if c.FromConfig {
		return "", "", fmt.Errorf("rotate secret of %q: %w", id, ErrReadOnly)
	}
	if c.Type != Confidential {
		// The sentinel before the reason: httperr.InputDetail answers
		// what follows it as the error_description.
		return "", "", fmt.Errorf("rotate secret of %q: %w: a public client has no secret", id, auth.ErrInvalidInput)
	}
	if secret, err = NewSecret(); err != nil {
		return "", "", fmt.Errorf("rotate secret: %w", err)
	}
	sid, err := newTokenSID()
	if err != nil {
		return "", "", fmt.Errorf("rotate secret: %w", err)
	}
	if err := r.store.SetClientSecret(ctx, id, HashSecret(secret), c.TokenSID, sid, r.now()); err != nil {
		return "", "", fmt.Errorf("rotate secret: %w", err)
	}
	return secret, c.TokenSID, nil
}

func (r *Registry) record(ctx context.Context, typ, id string, details map[string]string) {
	if r.audit == nil {
		return
	}
	d := map[string]string{"client_id": id}
	for k, v := range details {
		d[k] = v
	}
	r.audit.Record(ctx, audit.Event{Type: typ, Details: d})
}

// Authenticate checks a client's credentials at the token and revocation
// endpoints. A confidential client must present its secret; a public one
// must present none. Every refusal wraps ErrInvalidClient (and
// auth.ErrNotFound for an unknown client) so that the caller cannot leak
// which part was wrong; outages wrap auth.ErrUnavailable.
func (r *Registry) Authenticate(ctx context.Context, id, secret string) (Client, error) {
	c, err := r.Lookup(ctx, id)
	if errors.Is(err, auth.ErrNotFound) {
		// Compare anyway so that an unknown client costs the same.
		subtle.ConstantTimeCompare([]byte(HashSecret(secret)), []byte(HashSecret("")))
		return Client{}, fmt.Errorf("authenticate client: %w: %w", ErrInvalidClient, err)
	}
	if err != nil {
		return Client{}, err
	}
	switch {
	case c.IsPublic() && secret == "":
		return c, nil
	case c.IsPublic():
		return Client{}, fmt.Errorf("authenticate client %q: a public client sent a secret: %w", id, ErrInvalidClient)
	case c.SecretHash == "" || subtle.ConstantTimeCompare([]byte(HashSecret(secret)), []byte(c.SecretHash)) != 1:
		return Client{}, fmt.Errorf("authenticate client %q: wrong secret: %w", id, ErrInvalidClient)
	}
	return c, nil
}

// GrantableScopes returns the scopes of requested that c may have, in
// request order without repeats; the rest are dropped (RFC 6749 §3.3 lets
// the server issue fewer scopes than asked). An empty request gets the
// empty scope, never everything the client may have.
func (c Client) GrantableScopes(requested []string) []string {
	out := []string{}
	for _, s := range requested {
		if c.AllowsScope(s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// newTokenSID returns a new TokenSID: "cc-" and 128 random bits, unlike
// any refresh family's ID.
func newTokenSID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	return "cc-" + base64.RawURLEncoding.EncodeToString(b), nil
}

// newRegistration returns a new Registration: 128 random bits as
// base64url, never "" (a config client's) nor any earlier registration of
// the same client_id.
func newRegistration() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// NewSecret returns 256 random bits as base64url.
func NewSecret() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// HashSecret is the stored form of a secret. SHA-256 without salt is
// enough for secrets of 256 random bits (nothing to guess); config secrets
// are at least 32 characters.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
