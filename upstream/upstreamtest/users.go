package upstreamtest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// The user types of GET /ext/get-user-token.
const (
	userAgent      = "AGENT"
	userCustomUser = "CUSTOM_USER"
	userCustomer   = "CUSTOMER"
)

// user is someone get-user-token knows: every customer, and the staff of
// the agency (see staffOf).
type user struct {
	id     string
	email  string // "" for a customer without a contact email
	typ    string // userAgent, userCustomUser or userCustomer
	active bool   // the login token's "active"
}

// customerUser is the user of a customer's record, as served (after
// WithRecord): its token is active when its status is ACTIVE.
func customerUser(rec map[string]any) user {
	u := user{typ: userCustomer}
	u.id, _ = rec["_id"].(string)
	if contact, ok := rec["contact"].(map[string]any); ok {
		u.email, _ = contact["email"].(string)
	}
	status, _ := rec["status"].(string)
	u.active = status == "ACTIVE"
	return u
}

// staffOf is the agency's users who are not customers, the same on every
// start: an AGENT, owner@monday101.com (id 651000000000000000000001), and
// a CUSTOM_USER, support@monday101.com (id 651000000000000000000002); a
// tenant's are at label.monday101.com, with ids 6511…, 6512… Their tokens
// are active.
func staffOf(tenant int, label string) []user {
	domain := "monday101.com"
	if tenant > 0 {
		domain = strings.ToLower(label) + "." + domain
	}
	id := func(n int) string { return fmt.Sprintf("65%02x%020x", 0x10+tenant, n) }
	return []user{
		{id: id(1), email: "owner@" + domain, typ: userAgent, active: true},
		{id: id(2), email: "support@" + domain, typ: userCustomUser, active: true},
	}
}

// userByID is the user whose id is id.
func (d *dataset) userByID(id string) (user, bool) {
	for _, u := range d.staff {
		if u.id == id {
			return u, true
		}
	}
	for _, c := range d.current().customers {
		if c.id == id {
			return c.user, true
		}
	}
	return user{}, false
}

// userByEmail is the user of type typ ("" for any) whose email is email,
// compared case-insensitively; the first by createdAt among customers.
func (d *dataset) userByEmail(email, typ string) (user, bool) {
	if email == "" {
		return user{}, false
	}
	for _, u := range d.staff {
		if (typ == "" || typ == u.typ) && strings.EqualFold(u.email, email) {
			return u, true
		}
	}
	if typ != "" && typ != userCustomer {
		return user{}, false
	}
	for _, c := range d.current().customers {
		if strings.EqualFold(c.email, email) {
			return c.user, true
		}
	}
	return user{}, false
}

// loginKeySecret keys LoginKey. It is a test fixture, not a secret.
const loginKeySecret = "upstreamtest login tokens"

// LoginKey is the key of the login token that the fake gives the user with
// id userID: the hex HMAC-SHA256 of userID under a fixed test secret, the
// same on every start, so that tests can check a token, and -demo's
// tokens can be listed in the README.
func LoginKey(userID string) string {
	m := hmac.New(sha256.New, []byte(loginKeySecret))
	m.Write([]byte(userID))
	return hex.EncodeToString(m.Sum(nil))
}
