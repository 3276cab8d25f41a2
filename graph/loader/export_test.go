package loader

import "time"

// SetIndexClock replaces the index's clock.
func SetIndexClock(x *Index, now func() time.Time) { x.now = now }

// IndexLen is the number of entries the index holds.
func IndexLen(x *Index) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.cur) + len(x.old)
}

// FoldEmail is foldEmail, the key of an email.
var FoldEmail = foldEmail
