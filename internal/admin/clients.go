package admin

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/client"
	"github.com/gatehouse-auth/gatehouse/internal/httperr"
)

// Client is an OAuth client on the admin API (contract §8): the fields of
// a new client plus what the server keeps — never its secret or the
// secret's hash.
type Client struct {
	NewClient
	Source    string `json:"source"` // config (read-only) | store
	HasSecret bool   `json:"has_secret"`
	CreatedAt string `json:"created_at"`
}

func toClient(c client.Client) Client {
	src := "store"
	if c.FromConfig {
		src = "config"
	}
	return Client{NewClient: NewClient{ID: c.ID, Name: c.Name, Type: c.Type, RedirectURIs: nonNil(c.RedirectURIs),
		PostLogoutRedirectURIs: nonNil(c.PostLogoutRedirectURIs), GrantTypes: nonNil(c.GrantTypes), Scopes: nonNil(c.Scopes),
		FirstParty: c.FirstParty, BackchannelLogoutURI: c.BackchannelLogoutURI, Audience: nonNil(c.Audience),
		Roles: nonNil(c.Roles)}, Source: src, HasSecret: c.SecretHash != "", CreatedAt: rfc3339(c.CreatedAt)}
}

// NewClient is the body of POST /clients: the keys of a `clients:` entry
// in the config file, without a secret (a confidential client gets a
// generated one, shown once in the answer).
type NewClient struct {
	ID                     string   `json:"client_id"`
	Name                   string   `json:"name"`
	Type                   string   `json:"type"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	GrantTypes             []string `json:"grant_types"`
	Scopes                 []string `json:"scopes"`
	FirstParty             bool     `json:"first_party"`
	BackchannelLogoutURI   string   `json:"backchannel_logout_uri"`
	Audience               []string `json:"audience"`
	Roles                  []string `json:"roles"`
}

func (n NewClient) client() client.Client {
	return client.Client{ID: n.ID, Name: n.Name, Type: n.Type, RedirectURIs: n.RedirectURIs,
		PostLogoutRedirectURIs: n.PostLogoutRedirectURIs, GrantTypes: n.GrantTypes, Scopes: n.Scopes,
		FirstParty: n.FirstParty, BackchannelLogoutURI: n.BackchannelLogoutURI, Audience: n.Audience, Roles: n.Roles}
}

// readOnly turns the registry's refusal to change a config client into a
// 409 that says where the client is changed instead.
func readOnly(err error, id string) error {
	if errors.Is(err, client.ErrReadOnly) {
		return httperr.Describe(fmt.Errorf("%w: %w", auth.ErrConflict, err),
			fmt.Sprintf("client %s is declared in the config file (clients:); change or remove it there and reload", id))
	}
	return err
}

// addClient registers n with the registry's own validation (the one of
// `gatehouse client add`) and returns it with its secret ("" for a public
// client): the only time the secret is ever shown.
func (h *Handler) addClient(r *http.Request, n NewClient) (Client, string, error) {
	secret, err := h.d.Clients.Add(r.Context(), n.client())
	if err != nil {
		if errors.Is(err, auth.ErrConflict) {
			return Client{}, "", httperr.Describe(err, fmt.Sprintf("client_id %s is taken", n.ID))
		}
		return Client{}, "", err
	}
	c, err := h.d.Clients.Lookup(r.Context(), n.ID)
	if err != nil {
		return Client{}, "", err
	}
	return toClient(c), secret, nil
}

func (h *Handler) clientList(r *http.Request) ([]Client, error) {
	cs, err := h.d.Clients.List(r.Context())
	if err != nil {
		return nil, err
	}
	out := make([]Client, 0, len(cs))
	for _, c := range cs {
		out = append(out, toClient(c))
	}
	return out, nil
}

func (h *Handler) listClients(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	cs, err := h.clientList(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"clients": cs})
	return nil
}

// createClient: POST /clients → 201 {"client":{…},"client_secret":"…"}
// (client_secret only for a confidential client).
func (h *Handler) createClient(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	var in NewClient
	if err := decode(r, &in); err != nil {
		return err
	}
	c, secret, err := h.addClient(r, in)
	if err != nil {
		return err
	}
	out := map[string]any{"client": c}
	if secret != "" {
		out["client_secret"] = secret
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (h *Handler) showClient(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	c, err := h.d.Clients.Lookup(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toClient(c))
	return nil
}

func (h *Handler) deleteClient(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	id := r.PathValue("id")
	if err := h.d.Clients.Delete(r.Context(), id); err != nil {
		return readOnly(err, id)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// rotateClientSecret: POST /clients/{id}/secret → {"client_id","client_secret"};
// the old secret stops at once.
func (h *Handler) rotateClientSecret(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	id := r.PathValue("id")
	secret, err := h.d.Clients.RotateSecret(r.Context(), id)
	if err != nil {
		return readOnly(err, id)
	}
	writeJSON(w, http.StatusOK, map[string]any{"client_id": id, "client_secret": secret})
	return nil
}
