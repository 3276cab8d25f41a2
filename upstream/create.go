package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// CreateCustomerRequest is the input of Customers.Create.
type CreateCustomerRequest struct {
	Email    string // becomes the customer's username and contact email
	Name     string
	Password Secret
}

// createBody is the JSON body of POST /customer/create.
type createBody struct {
	Username string `json:"username"`
	Name     string `json:"name"`
	Password string `json:"password"`
}

// Create creates a customer under the agency of token: POST
// /customer/create. It returns the new customer as the list will show it
// (the answer's other fields are ignored).
//
// A create is never coalesced nor cached, and is sent again only when the
// upstream cannot have acted on it (a refused connection, or a 429 whose
// Retry-After fits within the max wait; see WithRetries): a timeout or a
// 5xx after sending is ErrUnavailable, and the customer may or may not
// exist. Besides the errors of every call (see do), a 409 is ErrConflict
// (the email is taken) and a 400 or 422 ErrRejected, with the upstream's
// reason in Error.Message. The password is in no error (masked in the
// upstream's messages too) and no log line.
//
// Unless the upstream refused it, token's cached pages are then dropped
// (Client.Invalidate), so that the next list shows the new customer: after
// a failure too, since the upstream may have created it.
func (s *CustomersService) Create(ctx context.Context, token Token, in CreateCustomerRequest) (Customer, error) {
	body := createBody{Username: in.Email, Name: in.Name, Password: string(in.Password)}
	req, err := s.client.newRequest("create customer", http.MethodPost, "/customer/create", "", token, body)
	if err != nil {
		return Customer{}, err
	}
	password := string(in.Password)
	decode := func(r response) (Customer, error) { return decodeNewCustomer(r, password) }
	r, err := do(ctx, s.client, req, decode, nil)
	if !refused(err) {
		// Detached: a caller who went away may have created the customer.
		s.client.Invalidate(context.WithoutCancel(ctx), token)
	}
	return r.value, err
}

// refused reports an error after which the upstream certainly changed
// nothing: it answered with a refusal.
func refused(err error) bool {
	for _, kind := range []error{ErrConflict, ErrRejected, ErrUnauthorized, ErrForbidden, ErrRateLimited} {
		if errors.Is(err, kind) {
			return true
		}
	}
	return false
}

// createKind is the kind of a create's refusals.
func createKind(status int) error {
	switch status {
	case http.StatusConflict:
		return ErrConflict
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return ErrRejected
	}
	return nil
}

// decodeNewCustomer decodes a create's answer: its data is the new customer,
// validated as a list record. An upstream message that echoes the password
// has it masked, as the token.
func decodeNewCustomer(r response, password string) (Customer, error) {
	data, err := checkAnswer(r.http, r.body, r.token, r.now(), password)
	if err != nil {
		return Customer{}, refine(err, createKind)
	}
	var w wireCustomer
	if len(data) == 0 || data[0] != '{' {
		return Customer{}, &Error{Kind: ErrBadResponse, StatusCode: r.http.StatusCode, Err: errors.New("envelope data is not an object")}
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return Customer{}, &Error{Kind: ErrBadResponse, StatusCode: r.http.StatusCode, Err: fmt.Errorf("data: %w", jsonErr(err))}
	}
	c, err := w.customer()
	if err != nil {
		return Customer{}, &Error{Kind: ErrBadResponse, StatusCode: r.http.StatusCode, Err: RecordError{ID: c.ID, Reason: err.Error()}}
	}
	return c, nil
}
