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

// edgeUnit carries a connection's per-edge cost up to the connection.
// gqlgen costs a field from its own arguments and its children's total,
// and first is the connection's argument, not edges': so edges hand up
// what one edge costs in units of edgeUnit, above anything the rest of a
// connection's selection can cost (a document of MAX_FIELDS fields costs
// far less), and the connection splits its children's total back into
// the edges' share and the rest. Were the rest ever to reach edgeUnit, it
// would be counted first times: priced higher, never lower.
const edgeUnit = 1 << 20

// connectionSize is how many edges a connection asks for, as priced: a
// first out of bounds is refused before any call (BAD_USER_INPUT), so it
// is priced as the bound, not refused as too dear.
func connectionSize(first *int) int {
	if first == nil {
		return defaultFirst
	}
	return min(max(*first, 1), maxFirst)
}

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
	// A connection reads the pages that first customers span (a page
	// holds about 20: first/20 pages, at least 1), and its edges cost what
	// is asked of each, first times; hasNextPage may read one page more.
	c.CustomerConnection.Edges = func(child int) int { return child * edgeUnit }
	c.Query.CustomersConnection = func(child int, first *int, _ *string, _ *model.CustomerSort) int {
		n := connectionSize(first)
		perEdge, rest := child/edgeUnit, child%edgeUnit
		pages := max(1, (n+pageSizeEstimate-1)/pageSizeEstimate)
		return 1 + UpstreamCallCost*pages + n*perEdge + rest
	}
	c.PageInfo.HasNextPage = func(int) int { return UpstreamCallCost }
	// node and customerByEmail are lookups like customer(id), in the same
	// scan.
	c.Query.Node = func(child int, _ string) int { return UpstreamCallCost*scanPagesEstimate + child }
	c.Query.CustomerByEmail = func(child int, _ string) int { return UpstreamCallCost*scanPagesEstimate + child }
	// A login token is one upstream call per customer: 20 customers' tokens
	// are priced as 20 calls.
	c.Customer.LoginToken = func(child int) int { return UpstreamCallCost + child }
	c.Query.UserLoginToken = func(child int, _ string, _ model.UserType) int { return UpstreamCallCost + child }
	// A create is one upstream call; the customer it returns is already
	// in hand (its loginToken is priced by its own field).
	c.Mutation.CreateCustomer = func(child int, _ model.CreateCustomerInput) int { return UpstreamCallCost + child }
	return c
}
