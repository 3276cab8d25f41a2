package graph

import (
	"fmt"

	"github.com/botpenguin-gateway/gateway/graph/model"
)

// pageArgs applies the schema defaults and the page bounds, before any
// upstream call.
func (r *Resolver) pageArgs(page *int, sort *model.CustomerSort) (int, model.CustomerSort, error) {
	p, s := 1, model.CustomerSortCreatedAt
	if page != nil {
		p = *page
	}
	if sort != nil {
		s = *sort
	}
	if p < 1 || p > r.maxPage {
		return 0, "", badInput{fmt.Sprintf("page must be between 1 and %d, got %d", r.maxPage, p)}
	}
	if _, ok := sortParams[s]; !ok {
		return 0, "", badInput{fmt.Sprintf("unknown sort %q", s)}
	}
	return p, s, nil
}

// maxIDLen bounds an id; upstream ids are 24 hex digits.
const maxIDLen = 64

// checkID refuses ids that cannot be an upstream _id, before any upstream
// call: empty, too long, or with characters other than letters, digits,
// '-' and '_'.
func checkID(id string) error {
	if id == "" {
		return badInput{"id must not be empty"}
	}
	if len(id) > maxIDLen {
		return badInput{fmt.Sprintf("id must be at most %d characters", maxIDLen)}
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return badInput{"id may only hold letters, digits, '-' and '_'"}
		}
	}
	return nil
}

// maxEmailLen is the longest address the contract accepts (RFC 5321's path).
const maxEmailLen = 254

// checkEmail refuses what cannot be an email address before any upstream
// call: the same rule createCustomer's input check uses. The message never
// repeats the address.
func checkEmail(email string) error {
	if len(email) > maxEmailLen {
		return badInput{fmt.Sprintf("email must be at most %d characters", maxEmailLen)}
	}
	if !validEmail(email) {
		return badInput{"email must be a plain address such as name@example.com"}
	}
	return nil
}
