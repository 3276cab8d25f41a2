package upstream

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// CustomersService calls the customer endpoints of the Partner API.
type CustomersService service

// List returns one page (1-based) of the customers token can see, in sort
// order (SortCreatedAt when empty): GET /customer/list?page=N&sort=FIELD.
// An empty Page is past the end. Records that cannot be mapped are in
// Page.Invalid, the others in Page.Customers.
//
// Identical concurrent calls (same token, page and sort) share one upstream
// call, so the returned Page may be shared with other callers: treat it as
// read-only. The shared call goes on while any caller waits for it, and is
// cancelled when all of them have gone away.
//
// With WithCache, a fresh cached page is returned without any call, and a
// stale one may stand in for an unavailable or rate-limited upstream (see
// Page.Stale).
//
// Errors are those of every call (see do). An empty token (or one that
// cannot be sent in a header) is ErrUnauthorized without a call; a page
// below 1 is a caller's bug and gets a plain error without a call.
func (s *CustomersService) List(ctx context.Context, token Token, page int, sort Sort) (Page, error) {
	if page < 1 {
		return Page{}, errInvalidPage
	}
	if sort == "" {
		sort = SortCreatedAt
	}
	// url.Values would encode the same, keys sorted, at a few more
	// allocations on the hottest path.
	query := "page=" + strconv.Itoa(page) + "&sort=" + url.QueryEscape(string(sort))
	req, err := s.client.newRequest("list customers", http.MethodGet, "/customer/list", query, token, nil)
	if err != nil {
		return Page{}, err
	}
	req.logAttrs = []slog.Attr{slog.Int("page", page), slog.String("sort", string(sort))}
	r, err := do(ctx, s.client, req, decodeList, &s.client.pages)
	if err != nil {
		return Page{}, err
	}
	p := r.value // a copy of the struct: the value itself may be shared
	p.Stale, p.Age = r.stale, r.age
	return p, nil
}

var errInvalidPage = errors.New("upstream: page must be >= 1")

// decodeList decodes a list answer: the answer almost every call gets (a
// success envelope whose records all have the right JSON types) in one
// pass, anything else the careful way.
func decodeList(r response) (Page, error) {
	if r.ok() {
		if p, ok := decodeGoodPage(r.body); ok {
			return p, nil
		}
	}
	return decodeListCarefully(r)
}

// decodeListCarefully tells every kind of bad answer apart: CheckResponse,
// then the data array record by record.
func decodeListCarefully(r response) (Page, error) {
	data, err := r.check()
	if err != nil {
		return Page{}, err
	}
	// An empty data array is a page past the end; null or missing is not.
	if len(data) == 0 || data[0] != '[' {
		return Page{}, &Error{Kind: ErrBadResponse, StatusCode: r.http.StatusCode, Err: errors.New("envelope data is not an array")}
	}
	return decodePage(data)
}

// Sort is an upstream sort field, sent as the sort query parameter.
type Sort string

// The sort fields the upstream knows.
const (
	SortCreatedAt Sort = "createdAt"
	SortUpdatedAt Sort = "updatedAt"
	SortName      Sort = "name"
	SortLastLogin Sort = "lastLogin"
)

// Customer is one record of a customer list page, validated: ID is never
// empty and CreatedAt is always set.
type Customer struct {
	ID               string
	Name             string
	Email            *string // nil when the record has no contact or no email
	Verified         bool
	Status           string // as sent, e.g. "ACTIVE"; unknown values are kept
	SubscriptionType *string
	CreatedAt        time.Time
	UpdatedAt        *time.Time
	LastLogin        *time.Time // nil when the customer never logged in
}

// Page is one decoded page of customers. Records that could not be decoded
// or validated are reported in Invalid; the others are kept in Customers, in
// upstream order. An empty page (no customers, no invalid records) is past
// the end of the list.
//
// A Page returned by Customers.List may be shared by every caller whose
// identical call was coalesced with it, and with the cache: treat it, its
// slices and the pointers inside as read-only (copy the struct to change
// a field, as List does to set Stale).
type Page struct {
	Customers []Customer
	Invalid   []RecordError

	// Stale is true when the upstream failed (unavailable or rate limited)
	// and this page is an older copy from the cache, served instead of an
	// error (stale-if-error, see WithCache). The graph flags it in the
	// response's extensions. Never stored in a cache.
	Stale bool `json:"-"`
	// Age is how long ago the page was fetched from the upstream when it
	// comes from the cache (fresh or stale); 0 when it was fetched for
	// this call. Never stored in a cache.
	Age time.Duration `json:"-"`
}

// Len is the number of records the upstream sent, valid or not.
func (p Page) Len() int { return len(p.Customers) + len(p.Invalid) }

// RecordError says why the record at Index (0-based, within the page's data
// array) was dropped. ID is the record's _id when it had one.
type RecordError struct {
	Index  int
	ID     string
	Reason string
}

func (e RecordError) Error() string { return "upstream: invalid customer record: " + e.Reason }
