package model

// CustomerConnection is what customersConnection answers before any of it
// is read: its edges and pageInfo are resolved only when selected, and
// share one reading of the upstream pages (see graph).
type CustomerConnection struct {
	Edges    func() ([]*CustomerEdge, error)
	PageInfo func() (*PageInfo, error)
}
