package loader

import (
	"time"

	"github.com/botpenguin-gateway/gateway/upstream"
)

// SetIndexClock replaces the index's clock.
func SetIndexClock(x *Index, now func() time.Time) { x.now = now }

// IndexLen is the number of entries the index holds (page records aside).
func IndexLen(x *Index) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := 0
	for _, s := range x.t.slots {
		if s.sort != 0 {
			n++
		}
	}
	return n
}

// FoldEmail is foldEmail, the key of an email.
var FoldEmail = foldEmail

// Forget drops the entry of the customer with this id, as a lookup does
// when the entry's page no longer holds it.
func Forget(x *Index, token upstream.Token, id string) { x.forget(token, lookup{value: id}) }
