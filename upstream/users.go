package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
)

// UsersService calls the user endpoints of the Partner API.
type UsersService service

// UserType is the type of user whose login token is asked for by email.
type UserType string

// The user types of GET /ext/get-user-token.
const (
	UserAgent      UserType = "AGENT"
	UserCustomUser UserType = "CUSTOM_USER"
	UserCustomer   UserType = "CUSTOMER"
)

// UserTokenQuery names the user of Users.LoginToken: by UserID (a
// customer's _id), or by Email and Type; exactly one of the two.
type UserTokenQuery struct {
	UserID string
	Email  string
	Type   UserType
}

// LoginToken is a user's permanent login token: Key signs the user in to
// BotPenguin, so it is a Secret.
type LoginToken struct {
	Key    Secret
	Active bool
}

var errInvalidUserTokenQuery = errors.New("upstream: a login token is asked for by user id, or by email and a known user type")

// encode is the query string of q, and what the debug log may say of it
// (how the user is named, never the id or the email).
func (q UserTokenQuery) encode() (string, []slog.Attr, error) {
	switch {
	case q.UserID != "" && q.Email == "" && q.Type == "":
		return url.Values{"userId": {q.UserID}}.Encode(), []slog.Attr{slog.String("by", "userId")}, nil
	case q.UserID == "" && q.Email != "" && (q.Type == UserAgent || q.Type == UserCustomUser || q.Type == UserCustomer):
		return url.Values{"email": {q.Email}, "type": {string(q.Type)}}.Encode(),
			[]slog.Attr{slog.String("by", "email"), slog.String("type", string(q.Type))}, nil
	}
	return "", nil, errInvalidUserTokenQuery
}

// LoginToken returns the permanent login token of the user q names: GET
// /ext/get-user-token?userId=ID or ?email=EMAIL&type=TYPE.
//
// A login token is a secret of the caller who asked: the call is never
// coalesced with another nor cached. Besides the errors of every call (see
// do), a 404 is ErrNotFound (no such user). A query that names no user, or
// two, is a caller's bug and gets a plain error without a call.
func (s *UsersService) LoginToken(ctx context.Context, token Token, q UserTokenQuery) (LoginToken, error) {
	query, attrs, err := q.encode()
	if err != nil {
		return LoginToken{}, err
	}
	req, err := s.client.newRequest("get user token", http.MethodGet, "/ext/get-user-token", query, token, nil)
	if err != nil {
		return LoginToken{}, err
	}
	req.logAttrs = attrs
	r, err := do(ctx, s.client, req, decodeLoginToken, nil) // nil: never shared
	return r.value, err
}

// decodeLoginToken decodes {"permanentToken": {"key": "...", "active": true}}.
// Its errors never hold the key: jsonErr names types, not values.
func decodeLoginToken(r response) (LoginToken, error) {
	data, err := r.check()
	if err != nil {
		return LoginToken{}, refine(err, func(status int) error {
			if status == http.StatusNotFound {
				return ErrNotFound
			}
			return nil
		})
	}
	bad := func(err error) (LoginToken, error) {
		return LoginToken{}, &Error{Kind: ErrBadResponse, StatusCode: r.http.StatusCode, Err: err}
	}
	if len(data) == 0 || data[0] != '{' {
		return bad(errors.New("envelope data is not an object"))
	}
	var d struct {
		PermanentToken *struct {
			Key    *string `json:"key"`
			Active *bool   `json:"active"`
		} `json:"permanentToken"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return bad(fmt.Errorf("data: %w", jsonErr(err)))
	}
	t := d.PermanentToken
	if t == nil || t.Key == nil || *t.Key == "" || t.Active == nil {
		return bad(errors.New("data has no permanentToken with a key and active"))
	}
	return LoginToken{Key: Secret(*t.Key), Active: *t.Active}, nil
}
