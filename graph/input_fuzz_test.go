package graph

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/botpenguin-gateway/gateway/graph/model"
)

// idByte is the set of bytes an upstream _id may hold.
func idByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_'
}

// FuzzCheckIDCharset: checkID accepts exactly the ids of 1 to 64 bytes,
// each one of [A-Za-z0-9_-]; it refuses every other string with an error
// that is BAD_USER_INPUT (errors.Is ErrBadInput).
func FuzzCheckIDCharset(f *testing.F) {
	for _, seed := range []string{
		"661000009e3779b97f4a7c15", "a", "-", "_", "A-z_09",
		"0123456789012345678901234567890123456789012345678901234567890123",
		"01234567890123456789012345678901234567890123456789012345678901234",
		"", " ", "a b", "a\x00", "ü", "\xff", "a\u200b", "../x", "a.b", "a+b", "%41", "ａ",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		want := len(id) >= 1 && len(id) <= 64
		for i := 0; i < len(id) && want; i++ {
			want = idByte(id[i])
		}
		err := checkID(id)
		if want != (err == nil) {
			t.Fatalf("checkID(%q) = %v, want accepted %v", id, err, want)
		}
		if err == nil {
			return
		}
		if !errors.Is(err, ErrBadInput) || codeOf(err) != CodeBadUserInput {
			t.Fatalf("checkID(%q): %v (code %q) is not BAD_USER_INPUT", id, err, codeOf(err))
		}
	})
}

// FuzzPageArgs: pageArgs applies the schema defaults (page 1, CREATED_AT)
// and accepts exactly 1 <= page <= maxPage with a known sort, returning
// them unchanged; anything else is BAD_USER_INPUT.
func FuzzPageArgs(f *testing.F) {
	f.Add(1, true, "CREATED_AT", true, uint32(10000))
	f.Add(0, false, "", false, uint32(10000))
	f.Add(10000, true, "LAST_LOGIN", true, uint32(10000))
	f.Add(10001, true, "NAME", true, uint32(10000))
	f.Add(0, true, "UPDATED_AT", true, uint32(1))
	f.Add(-1, true, "created_at", true, uint32(50))
	f.Add(1<<31, true, "CREATED_AT", false, uint32(1<<30))
	f.Add(2, true, "", true, uint32(2))
	sorts := map[model.CustomerSort]bool{}
	for _, s := range model.AllCustomerSort {
		sorts[s] = true
	}
	f.Fuzz(func(t *testing.T, page int, hasPage bool, sort string, hasSort bool, maxPage uint32) {
		// MAX_PAGE is between 1 and 1<<30 (see the configuration).
		r := NewResolver(nil, Options{Logger: slog.New(slog.DiscardHandler), MaxPage: 1 + int(maxPage%(1<<30))})
		wantPage, wantSort := 1, model.CustomerSortCreatedAt
		var pp *int
		var sp *model.CustomerSort
		if hasPage {
			pp, wantPage = &page, page
		}
		if hasSort {
			s := model.CustomerSort(sort)
			sp, wantSort = &s, s
		}
		gotPage, gotSort, err := r.pageArgs(pp, sp)
		ok := wantPage >= 1 && wantPage <= r.maxPage && sorts[wantSort]
		if ok != (err == nil) {
			t.Fatalf("pageArgs(%d, %q) with MAX_PAGE %d: %v", wantPage, wantSort, r.maxPage, err)
		}
		if err != nil {
			if !errors.Is(err, ErrBadInput) || codeOf(err) != CodeBadUserInput {
				t.Fatalf("pageArgs: %v is not BAD_USER_INPUT", err)
			}
			return
		}
		if gotPage != wantPage || gotSort != wantSort {
			t.Fatalf("pageArgs(%d, %q) = %d, %q", wantPage, wantSort, gotPage, gotSort)
		}
		if _, ok := sortParams[gotSort]; !ok {
			t.Fatalf("sort %q has no upstream field", gotSort)
		}
	})
}
