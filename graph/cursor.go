package graph

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/botpenguin-gateway/gateway/graph/model"
)

// cursor is a place in customersConnection's list: the customer with id
// ID, seen at Index (0-based) of upstream page Page in sort Sort.
//
// It is written as base64url (no padding) of "1:SORT:PAGE:INDEX:ID", the
// 1 being the format's version. Opaque to clients, but not secret: it
// holds nothing the client was not shown, and a forged one only points
// into the client's own list. The same customer at the same place always
// has the same cursor.
type cursor struct {
	Sort  model.CustomerSort
	Page  int
	Index int
	ID    string
}

// cursorVersion is the first field of every cursor: a change of format
// gets a new one, and old cursors are refused (BAD_USER_INPUT) rather than
// misread.
const cursorVersion = "1"

// maxCursorLen bounds what is decoded: a cursor of the longest id, page
// and index is about 130 characters.
const maxCursorLen = 200

// maxCursorIndex bounds a cursor's index within its page; the upstream's
// page size is not documented, and is 20 today.
const maxCursorIndex = 100_000

func (c cursor) String() string {
	b := make([]byte, 0, 64)
	b = append(b, cursorVersion+":"...)
	b = append(b, c.Sort...)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(c.Page), 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(c.Index), 10)
	b = append(b, ':')
	b = append(b, c.ID...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// errBadCursor is every malformed cursor's refusal: which part is wrong
// tells a client nothing it can act on.
var errBadCursor = badInput{"after is not a cursor of customersConnection"}

// parseCursor reads a cursor that String wrote for sort, with a page
// within maxPage, before any upstream call.
func parseCursor(s string, sort model.CustomerSort, maxPage int) (cursor, error) {
	if len(s) > maxCursorLen {
		return cursor{}, errBadCursor
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return cursor{}, errBadCursor
	}
	parts := strings.Split(string(raw), ":")
	if len(parts) != 5 || parts[0] != cursorVersion {
		return cursor{}, errBadCursor
	}
	c := cursor{Sort: model.CustomerSort(parts[1]), ID: parts[4]}
	if !c.Sort.IsValid() {
		return cursor{}, errBadCursor
	}
	if c.Page, err = strconv.Atoi(parts[2]); err != nil || c.Page < 1 || c.Page > maxPage {
		return cursor{}, errBadCursor
	}
	if c.Index, err = strconv.Atoi(parts[3]); err != nil || c.Index < 0 || c.Index >= maxCursorIndex {
		return cursor{}, errBadCursor
	}
	// One cursor per place: "+1", "01" and the like are not ours.
	if checkID(c.ID) != nil || c.String() != s {
		return cursor{}, errBadCursor
	}
	if c.Sort != sort {
		return cursor{}, badInput{fmt.Sprintf("after is a cursor of sort %s, not %s", c.Sort, sort)}
	}
	return c, nil
}
