package graph

import "github.com/botpenguin-gateway/gateway/graph/model"

// Query cost, for the complexity limit. A field costs 1 plus its children,
// except where the field costs upstream calls: what a client pays follows
// what the upstream pays.
const (
	// UpstreamCallCost is the cost of one upstream page.
	UpstreamCallCost = 10
	// pageSizeEstimate is how many customers a page holds, to weigh what is
	// asked of each node.
	pageSizeEstimate = 20
	// scanPagesEstimate is how many pages a scan for ids is expected to
	// read; the scan is shared by every id of the operation.
	scanPagesEstimate = 3
)

// NewComplexity returns the cost of each field (see the README's "Limits").
func NewComplexity() ComplexityRoot {
	var c ComplexityRoot
	c.CustomerPage.Nodes = func(child int) int { return UpstreamCallCost + pageSizeEstimate*child }
	c.CustomerPage.HasNextPage = func(int) int { return UpstreamCallCost }
	c.Query.Customer = func(child int, _ string) int { return UpstreamCallCost*scanPagesEstimate + child }
	c.Query.__resolve_entities = func(child int, reps []map[string]any) int {
		return UpstreamCallCost*scanPagesEstimate + len(reps)*child
	}
	c.Query.Customers = func(child int, _ *int, _ *model.CustomerSort) int { return 1 + child }
	// A login token is one upstream call per customer: 20 customers' tokens
	// are priced as 20 calls.
	c.Customer.LoginToken = func(child int) int { return UpstreamCallCost + child }
	c.Query.UserLoginToken = func(child int, _ string, _ model.UserType) int { return UpstreamCallCost + child }
	// A create is one upstream call; the customer it returns is already
	// in hand (its loginToken is priced by its own field).
	c.Mutation.CreateCustomer = func(child int, _ model.CreateCustomerInput) int { return UpstreamCallCost + child }
	return c
}
