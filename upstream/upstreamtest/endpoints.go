package upstreamtest

import (
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// The fake's endpoints, for CallsTo and OnPath.
const (
	PathList      = "/customer/list"      // GET ?page=N&sort=FIELD
	PathCreate    = "/customer/create"    // POST {"username", "name", "password"}
	PathUserToken = "/ext/get-user-token" // GET ?userId=ID or ?email=EMAIL&type=TYPE
)

// CreateRequest is what the fake noted about one POST /customer/create. It
// holds no token, and of the password only whether it was the one given to
// PasswordIs.
type CreateRequest struct {
	Username    string // as sent ("" when missing)
	Name        string
	ContentType string
	AuthType    string
	HasBearer   bool
	Tenant      string

	password [sha256.Size]byte
}

// PasswordIs reports whether the request's password was pw.
func (r CreateRequest) PasswordIs(pw string) bool { return r.password == sha256.Sum256([]byte(pw)) }

// TokenRequest is what the fake noted about one GET /ext/get-user-token.
// It holds no token.
type TokenRequest struct {
	UserID    string // the query parameters as sent
	Email     string
	Type      string
	AuthType  string
	HasBearer bool
	Tenant    string
}

// createInput is the body of a create; pointers tell a missing field.
type createInput struct {
	Username *string `json:"username"`
	Name     *string `json:"name"`
	Password *string `json:"password"`
}

// serveCreate creates a customer, as Add does, and answers it with the
// fields the upstream's create adds. It refuses a body that is not JSON
// (400), a missing username, name or password, a username that is not an
// email address or whose domain ends in .invalid (422), and an email
// that a user of the token's dataset already has (409).
func (s *Server) serveCreate(w http.ResponseWriter, r *http.Request) {
	s.createCalls.Add(1)
	tok, hasBearer := bearerOf(r)
	ten := s.tenantOf(tok, hasBearer)
	var in createInput
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	malformed := err != nil || json.Unmarshal(body, &in) != nil
	note := CreateRequest{ContentType: r.Header.Get("Content-Type"), AuthType: r.Header.Get("authtype"),
		HasBearer: hasBearer, Tenant: ten.label}
	if in.Username != nil {
		note.Username = *in.Username
	}
	if in.Name != nil {
		note.Name = *in.Name
	}
	if in.Password != nil {
		note.password = sha256.Sum256([]byte(*in.Password))
	}
	s.mu.Lock()
	s.creates = noted(s.creates, note)
	fault := s.fault
	s.mu.Unlock()

	w, done := s.intercept(w, r, fault)
	switch {
	case done:
	case r.Method != http.MethodPost:
		write(w, http.StatusMethodNotAllowed, errBody(405, "Method Not Allowed"))
	case !s.authorized(r, tok, hasBearer):
		write(w, http.StatusUnauthorized, unauthorized)
	case malformed:
		write(w, http.StatusBadRequest, errBody(400, "body must be a JSON object of strings: username, name, password"))
	default:
		if msg := invalidCreate(in); msg != "" {
			write(w, http.StatusUnprocessableEntity, errBody(422, msg))
			return
		}
		rec, taken := ten.create(Customer{Name: *in.Name, Email: *in.Username})
		if taken {
			write(w, http.StatusConflict, errBody(409, "A user with this email already exists"))
			return
		}
		write(w, http.StatusOK, createdBody(rec))
	}
}

// invalidCreate is why the upstream refuses in, or "".
func invalidCreate(in createInput) string {
	switch {
	case in.Username == nil || *in.Username == "":
		return "username is required"
	case !strings.Contains(*in.Username, "@"):
		return "username must be an email address"
	case strings.HasSuffix(strings.ToLower(*in.Username), ".invalid"):
		return "username: this email domain does not accept mail"
	case in.Name == nil || strings.TrimSpace(*in.Name) == "":
		return "name is required"
	case in.Password == nil || *in.Password == "":
		return "password is required"
	}
	return ""
}

// createdBody is the answer of a create: the record as the list serves it
// and what else the upstream sends about a new customer.
func createdBody(rec []byte) []byte {
	c := copyRecord(rec)
	email := ""
	if contact, ok := c["contact"].(map[string]any); ok {
		email, _ = contact["email"].(string)
	}
	c["username"] = email
	c["userType"] = userCustomer
	c["accountUsage"] = map[string]any{"bots": 0, "messages": 0}
	b, err := json.Marshal(map[string]any{"success": true, "message": "Customer created", "data": c, "code": 200})
	if err != nil {
		panic(err) // strings and numbers only
	}
	return b
}

// serveUserToken answers the login token of a user of the token's dataset,
// by id or by email and type (see LoginKey and staffOf): 404 for no such
// user, 400 for a query that names none or two, or an unknown type.
func (s *Server) serveUserToken(w http.ResponseWriter, r *http.Request) {
	s.tokenCalls.Add(1)
	q := r.URL.Query()
	tok, hasBearer := bearerOf(r)
	ten := s.tenantOf(tok, hasBearer)
	id, email, typ := q.Get("userId"), q.Get("email"), q.Get("type")
	s.mu.Lock()
	s.tokenReqs = noted(s.tokenReqs, TokenRequest{UserID: id, Email: email, Type: typ,
		AuthType: r.Header.Get("authtype"), HasBearer: hasBearer, Tenant: ten.label})
	fault := s.fault
	s.mu.Unlock()

	w, done := s.intercept(w, r, fault)
	switch {
	case done:
		return
	case r.Method != http.MethodGet:
		write(w, http.StatusMethodNotAllowed, errBody(405, "Method Not Allowed"))
		return
	case !s.authorized(r, tok, hasBearer):
		write(w, http.StatusUnauthorized, unauthorized)
		return
	}
	var u user
	var found bool
	switch {
	case id != "" && email == "" && typ == "":
		u, found = ten.userByID(id)
	case id == "" && email != "" && (typ == userAgent || typ == userCustomUser || typ == userCustomer):
		u, found = ten.userByEmail(email, typ)
	default:
		write(w, http.StatusBadRequest, errBody(400, "give userId, or email and type (AGENT, CUSTOM_USER or CUSTOMER)"))
		return
	}
	if !found {
		write(w, http.StatusNotFound, errBody(404, "User not found"))
		return
	}
	b, err := json.Marshal(map[string]any{"success": true, "message": "", "code": 200,
		"data": map[string]any{"permanentToken": map[string]any{"key": LoginKey(u.id), "active": u.active}}})
	if err != nil {
		panic(err)
	}
	write(w, http.StatusOK, b)
}

// noted appends n to notes, which keeps at least the last maxRequests (see
// lastNoted). It drops the older half at once when twice that many have
// piled up: dropping the oldest on every request moved a thousand notes a
// call, which a benchmark or the demo at thousands of requests a second
// paid for.
func noted[T any](notes []T, n T) []T {
	if len(notes) == 2*maxRequests {
		notes = append(notes[:0], notes[maxRequests:]...)
	}
	return append(notes, n)
}

// lastNoted is a copy of the last maxRequests of notes, oldest first.
func lastNoted[T any](notes []T) []T {
	return append([]T(nil), notes[max(len(notes)-maxRequests, 0):]...)
}
