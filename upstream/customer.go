package upstream

import (
	"log/slog"
	"time"
)

// Token is a credential sent upstream as "Authorization: Bearer <token>".
// It prints as [redacted] through fmt and slog so that it cannot leak into
// a log line or an error message by accident.
type Token string

const redacted = "[redacted]"

// String returns a mask, never the token.
func (Token) String() string { return redacted }

// GoString returns a mask, never the token (for %#v).
func (Token) GoString() string { return redacted }

// LogValue returns a mask, never the token.
func (Token) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText returns a mask, never the token.
func (Token) MarshalText() ([]byte, error) { return []byte(redacted), nil }

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
// A Page returned by Client.ListCustomers may be shared by every caller whose
// identical call was coalesced with it, and with the cache: treat it, its
// slices and the pointers inside as read-only (copy the struct to change
// a field, as the cache does to set Stale).
type Page struct {
	Customers []Customer
	Invalid   []RecordError

	// Stale is true when the upstream failed (unavailable or rate limited)
	// and this page is an older copy from the cache, served instead of an
	// error (stale-if-error, see WithCache). The graph flags it in the
	// response's extensions.
	Stale bool
	// Age is how long ago the page was fetched from the upstream when it
	// comes from the cache (fresh or stale); 0 when it was fetched for
	// this call.
	Age time.Duration
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
