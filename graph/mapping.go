package graph

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/botpenguin-gateway/gateway/graph/model"
	"github.com/botpenguin-gateway/gateway/upstream"
)

// sortParams maps the schema's sort keys to the upstream's sort fields.
var sortParams = map[model.CustomerSort]upstream.Sort{
	model.CustomerSortCreatedAt: upstream.SortCreatedAt,
	model.CustomerSortUpdatedAt: upstream.SortUpdatedAt,
	model.CustomerSortName:      upstream.SortName,
	model.CustomerSortLastLogin: upstream.SortLastLogin,
}

// maxLoggedStatuses bounds the memory spent remembering which unknown
// statuses were logged: the upstream decides how many there are.
const maxLoggedStatuses = 256

// statusMapper maps upstream statuses to the enum. An unknown status is
// UNKNOWN, never an error, and is logged once per value per process so that
// operators learn that the schema should grow.
type statusMapper struct {
	log  *slog.Logger
	mu   sync.Mutex
	seen map[string]bool
}

func newStatusMapper(log *slog.Logger) *statusMapper {
	return &statusMapper{log: log, seen: map[string]bool{}}
}

func (m *statusMapper) status(ctx context.Context, s string) model.CustomerStatus {
	switch model.CustomerStatus(s) {
	case model.CustomerStatusActive, model.CustomerStatusInactive:
		return model.CustomerStatus(s)
	}
	m.mu.Lock()
	first := !m.seen[s] && len(m.seen) < maxLoggedStatuses
	if first {
		m.seen[s] = true
	}
	m.mu.Unlock()
	if first {
		m.log.LogAttrs(ctx, slog.LevelInfo, "unknown customer status mapped to UNKNOWN",
			slog.String("status", truncate(s, 64)))
	}
	return model.CustomerStatusUnknown
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func (m *statusMapper) customer(ctx context.Context, c *upstream.Customer) *model.Customer {
	return &model.Customer{
		ID:               c.ID,
		Name:             c.Name,
		Contact:          &model.CustomerContact{Email: c.Email},
		Verified:         c.Verified,
		Status:           m.status(ctx, c.Status),
		SubscriptionType: c.SubscriptionType,
		CreatedAt:        model.DateTime{Time: c.CreatedAt},
		UpdatedAt:        optionalTime(c.UpdatedAt),
		LastLogin:        optionalTime(c.LastLogin),
	}
}

// customers maps a page's customers; their models are allocated together,
// a few allocations per page instead of four per customer.
func (m *statusMapper) customers(ctx context.Context, cs []upstream.Customer) []*model.Customer {
	nodes := make([]*model.Customer, len(cs))
	models := make([]model.Customer, len(cs))
	contacts := make([]model.CustomerContact, len(cs))
	times := make([]model.DateTime, 0, 2*len(cs))
	optional := func(t *time.Time) *model.DateTime {
		if t == nil {
			return nil
		}
		times = append(times, model.DateTime{Time: *t})
		return &times[len(times)-1]
	}
	for i := range cs {
		c := &cs[i]
		contacts[i].Email = c.Email
		models[i] = model.Customer{
			ID:               c.ID,
			Name:             c.Name,
			Contact:          &contacts[i],
			Verified:         c.Verified,
			Status:           m.status(ctx, c.Status),
			SubscriptionType: c.SubscriptionType,
			CreatedAt:        model.DateTime{Time: c.CreatedAt},
			UpdatedAt:        optional(c.UpdatedAt),
			LastLogin:        optional(c.LastLogin),
		}
		nodes[i] = &models[i]
	}
	return nodes
}

// of maps the statuses of a page's customers.
func (m *statusMapper) of(ctx context.Context, cs []upstream.Customer) []model.CustomerStatus {
	statuses := make([]model.CustomerStatus, len(cs))
	for i := range cs {
		statuses[i] = m.status(ctx, cs[i].Status)
	}
	return statuses
}

func optionalTime(t *time.Time) *model.DateTime {
	if t == nil {
		return nil
	}
	return &model.DateTime{Time: *t}
}
