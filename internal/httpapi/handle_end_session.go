package httpapi

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/gatehouse-auth/gatehouse/internal/audit"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/authserver"
	"github.com/gatehouse-auth/gatehouse/internal/client"
	"github.com/gatehouse-auth/gatehouse/internal/httperr"
)

// IDTokenVerifier checks an ID token gatehouse issued (token.Issuer).
type IDTokenVerifier interface {
	VerifyOwn(raw, typ string) (map[string]any, error)
}

// handleEndSession is OIDC RP-Initiated Logout 1.0 (contract §8). With an
// id_token_hint for the current session (or no session at all) it signs
// out at once; otherwise it asks, and only a same-origin POST of that
// confirmation signs out, so that no other site can force a logout.
func (s *server) handleEndSession() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		params, err := requestParams(r)
		if err != nil {
			s.endSessionPage(w, http.StatusBadRequest, "The sign-out request is malformed.")
			return
		}
		hintSID, clientID := "", params.Get("client_id")
		if hint := params.Get("id_token_hint"); hint != "" {
			if s.IDTokens == nil {
				s.endSessionPage(w, http.StatusBadRequest, "The sign-out request names an unknown ID token.")
				return
			}
			c, err := s.IDTokens.VerifyOwn(hint, authserver.IDTokenType)
			aud, _ := c["aud"].(string)
			if err != nil || aud == "" || (clientID != "" && clientID != aud) {
				s.endSessionPage(w, http.StatusBadRequest, "The sign-out request carries an ID token that gatehouse did not issue to this application.")
				return
			}
			clientID = aud
			hintSID, _ = c["sid"].(string)
		}
		var cl *client.Client
		if clientID != "" && s.Clients != nil {
			c, err := s.Clients.Lookup(r.Context(), clientID)
			if httperr.Unavailable(err) {
				s.authorizeOutage(w, r, err)
				return
			}
			if err == nil {
				cl = &c
			}
		}
		redirect := params.Get("post_logout_redirect_uri")
		if redirect != "" && (cl == nil || !cl.PostLogoutAllowed(redirect)) {
			s.endSessionPage(w, http.StatusBadRequest, "The application asked to send you to an address it has not registered.")
			return
		}
		p, rec, err := s.currentSession(r)
		if err != nil && httperr.Unavailable(err) {
			s.authorizeOutage(w, r, err)
			return
		}
		if err == nil {
			confirmed := r.Method == http.MethodPost && params.Get("confirm") == "yes" && s.cop.Check(r) == nil
			if !confirmed {
				named, err := s.hintNames(r, p.Subject, rec.ID, clientID, hintSID)
				if err != nil {
					s.authorizeOutage(w, r, err)
					return
				}
				if !named {
					s.endSessionConfirm(w, cl, params)
					return
				}
			}
			if err := s.Sessions.RevokeOwned(r.Context(), p.Subject, rec.ID); err != nil && !errors.Is(err, auth.ErrNotFound) {
				s.authorizeOutage(w, r, err)
				return
			}
			s.record(r, audit.Logout, p)
		}
		s.Sessions.ClearCookie(w)
		if redirect == "" {
			httperr.RenderPage(w, httperr.Page{Status: http.StatusOK, Title: "Signed out", Message: "You are signed out of gatehouse."})
			return
		}
		add := url.Values{}
		if st := params.Get("state"); st != "" {
			add.Set("state", st)
		}
		loc, err := withParams(redirect, add)
		if err != nil { // PostLogoutAllowed admits only URIs that parse
			s.endSessionPage(w, http.StatusBadRequest, "The application's address is malformed.")
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, loc, http.StatusSeeOther)
	})
}

// hintNames reports whether the id_token_hint's sid names the current
// session, also after a step-up gave it a new ID (the app's grant keeps
// the sid its ID token carries).
func (s *server) hintNames(r *http.Request, userID, sessionID, clientID, sid string) (bool, error) {
	if s.Apps == nil {
		return sid != "" && sid == sessionID, nil
	}
	return s.Apps.SessionKnownAs(r.Context(), userID, sessionID, clientID, sid)
}

func (s *server) endSessionConfirm(w http.ResponseWriter, cl *client.Client, params url.Values) {
	data := endSessionPage{}
	if cl != nil {
		data.Client = cl.DisplayName()
	}
	for _, k := range []string{"client_id", "post_logout_redirect_uri", "state"} {
		if v := params.Get(k); v != "" {
			data.Fields = append(data.Fields, field{k, v})
		}
	}
	if cl != nil && params.Get("client_id") == "" {
		data.Fields = append(data.Fields, field{"client_id", cl.ID})
	}
	// The confirmation is answered by a redirect to the registered
	// post_logout_redirect_uri.
	data.FormOrigin = formTarget(params.Get("post_logout_redirect_uri"))
	s.pages.render(w, http.StatusOK, "end_session", data)
}

func (s *server) endSessionPage(w http.ResponseWriter, status int, msg string) {
	httperr.RenderPage(w, httperr.Page{Status: status, Title: "Cannot sign out", Message: msg})
}
