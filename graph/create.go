package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/botpenguin-gateway/gateway/graph/model"
	"github.com/botpenguin-gateway/gateway/internal/auth"
	"github.com/botpenguin-gateway/gateway/internal/idempotency"
	"github.com/botpenguin-gateway/gateway/upstream"
)

// The contract's bounds of createCustomer's input, in characters.
const (
	maxNameLen           = 100
	minPasswordLen       = 8
	maxPasswordLen       = 128
	maxIdempotencyKeyLen = 255
)

// The outcomes creates are counted by.
const (
	createCreated   = "created"
	createUserError = "user_error"
	createUpstream  = "upstream_error"
	createReplay    = "idempotent_replay"
	createForbidden = "forbidden"
)

// createCustomer creates a customer with the customers:write scope: the
// input is checked first (INVALID, no upstream call), then the create runs
// once per idempotency key, if one is given.
func (r *Resolver) createCustomer(ctx context.Context, in model.CreateCustomerInput) (*model.CreateCustomerPayload, error) {
	payload, outcome, err := r.create(ctx, in)
	if r.creates != nil {
		r.creates.WithLabelValues(outcome).Inc()
	}
	return payload, err
}

func (r *Resolver) create(ctx context.Context, in model.CreateCustomerInput) (*model.CreateCustomerPayload, string, error) {
	if err := auth.Require(ctx, auth.ScopeWrite); err != nil {
		if errors.Is(err, auth.ErrForbidden) {
			return nil, createForbidden, err
		}
		return nil, createUpstream, err
	}
	if r.creator == nil {
		return nil, createUpstream, errNoCreator
	}
	token, err := auth.Token(ctx)
	if err != nil {
		return nil, createUpstream, err
	}
	if problems := checkCreateInput(in); len(problems) > 0 {
		return &model.CreateCustomerPayload{UserErrors: problems}, createUserError, nil
	}
	req := upstream.CreateCustomerRequest{
		Email: in.Email, Name: strings.TrimSpace(in.Name), Password: upstream.Secret(in.Password),
	}
	if in.IdempotencyKey == nil {
		kept, err := r.createUpstream(ctx, token, req)
		return r.payload(ctx, kept, false, err)
	}
	write := func(ctx context.Context) ([]byte, bool, error) {
		kept, err := r.createUpstream(ctx, token, req)
		if err != nil {
			return nil, false, err
		}
		b, err := json.Marshal(kept)
		return b, err == nil, err
	}
	client, err := auth.Client(ctx)
	if err != nil {
		return nil, createUpstream, err
	}
	b, replay, err := r.idempotency.Do(ctx, idempotency.Call{
		Client: client, Key: *in.IdempotencyKey,
		Input: [][]byte{[]byte(in.Email), []byte(in.Name), []byte(in.Password)},
	}, write)
	if errors.Is(err, idempotency.ErrKeyReused) {
		return &model.CreateCustomerPayload{UserErrors: []*model.UserError{{
			Field: []string{"input", "idempotencyKey"}, Code: model.UserErrorCodeIdempotencyKeyReused,
			Message: "this idempotencyKey was used before with another input",
		}}}, createUserError, nil
	}
	if err != nil {
		return nil, createUpstream, err
	}
	var kept keptCreate
	if err := json.Unmarshal(b, &kept); err != nil {
		return nil, createUpstream, fmt.Errorf("graph: kept create outcome: %w", err)
	}
	return r.payload(ctx, kept, replay, nil)
}

// errNoCreator is a wiring bug: a create asked of a resolver without one.
var errNoCreator = errors.New("graph: no customer creator")

// keptCreate is a create's outcome as the idempotency store keeps it: the
// customer's public fields, or the userErrors. Never the input.
type keptCreate struct {
	Customer   *upstream.Customer `json:"customer,omitempty"`
	UserErrors []*model.UserError `json:"userErrors,omitempty"`
}

// createUpstream makes the upstream call: the upstream's refusals become
// userErrors, anything else stays an error (never kept, so the client may
// try again).
func (r *Resolver) createUpstream(ctx context.Context, token upstream.Token, req upstream.CreateCustomerRequest) (keptCreate, error) {
	c, err := r.creator.Create(ctx, token, req)
	var upErr *upstream.Error
	errors.As(err, &upErr)
	switch {
	case err == nil:
		return keptCreate{Customer: &c}, nil
	case errors.Is(err, upstream.ErrConflict):
		return keptCreate{UserErrors: []*model.UserError{{
			Field: []string{"input", "email"}, Code: model.UserErrorCodeTaken,
			Message: upstreamMessage(upErr, "a user with this email exists already"),
		}}}, nil
	case errors.Is(err, upstream.ErrRejected):
		msg := upstreamMessage(upErr, "the upstream refused the input")
		return keptCreate{UserErrors: []*model.UserError{{
			Field: fieldNamedIn(msg), Code: model.UserErrorCodeRejected, Message: msg,
		}}}, nil
	}
	return keptCreate{}, err
}

// payload turns a create's kept outcome into the answer.
func (r *Resolver) payload(ctx context.Context, kept keptCreate, replay bool, err error) (*model.CreateCustomerPayload, string, error) {
	if err != nil {
		return nil, createUpstream, err
	}
	p := &model.CreateCustomerPayload{UserErrors: kept.UserErrors}
	if p.UserErrors == nil {
		p.UserErrors = []*model.UserError{}
	}
	outcome := createUserError
	if kept.Customer != nil {
		p.Customer, outcome = r.statuses.customer(ctx, kept.Customer), createCreated
	}
	if replay {
		outcome = createReplay
	}
	return p, outcome, nil
}

// upstreamMessage is the upstream's own (scrubbed) reason, or def.
func upstreamMessage(e *upstream.Error, def string) string {
	if e != nil && e.Message != "" {
		return e.Message
	}
	return def
}

// inputFields finds the input fields an upstream message names.
var inputFields = []struct {
	re    *regexp.Regexp
	field string
}{
	{regexp.MustCompile(`(?i)\b(e-?mail|username)\b`), "email"},
	{regexp.MustCompile(`(?i)\bname\b`), "name"},
	{regexp.MustCompile(`(?i)\bpassword\b`), "password"},
}

// fieldNamedIn is the input field a REJECTED message names, or nil when it
// names none or several.
func fieldNamedIn(msg string) []string {
	var named []string
	for _, f := range inputFields {
		if f.re.MatchString(msg) {
			named = append(named, f.field)
		}
	}
	if len(named) != 1 {
		return nil
	}
	return []string{"input", named[0]}
}

// checkCreateInput applies the contract's checks, all of them at once so
// that a form can mark every field; a message never repeats the value.
func checkCreateInput(in model.CreateCustomerInput) []*model.UserError {
	var problems []*model.UserError
	invalid := func(field, msg string) {
		problems = append(problems, &model.UserError{Field: []string{"input", field}, Code: model.UserErrorCodeInvalid, Message: msg})
	}
	if !validEmail(in.Email) {
		invalid("email", fmt.Sprintf("email must be a plain address such as name@example.com, at most %d characters", maxEmailLen))
	}
	if n := utf8.RuneCountInString(strings.TrimSpace(in.Name)); n < 1 || n > maxNameLen {
		invalid("name", fmt.Sprintf("name must be 1 to %d characters, not counting spaces around it", maxNameLen))
	}
	if n := utf8.RuneCountInString(in.Password); n < minPasswordLen || n > maxPasswordLen || !utf8.ValidString(in.Password) {
		invalid("password", fmt.Sprintf("password must be %d to %d characters", minPasswordLen, maxPasswordLen))
	}
	if k := in.IdempotencyKey; k != nil && !validIdempotencyKey(*k) {
		invalid("idempotencyKey", fmt.Sprintf("idempotencyKey must be 1 to %d printable ASCII characters", maxIdempotencyKeyLen))
	}
	return problems
}

func validEmail(email string) bool {
	if len(email) > maxEmailLen {
		return false
	}
	addr, err := mail.ParseAddress(email)
	return err == nil && addr.Address == email && addr.Name == ""
}

// validIdempotencyKey accepts what clients use as keys (UUIDs, ULIDs,
// request ids): printable ASCII.
func validIdempotencyKey(k string) bool {
	if len(k) < 1 || len(k) > maxIdempotencyKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}
