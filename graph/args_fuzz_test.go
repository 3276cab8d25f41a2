package graph

import (
	"errors"
	"regexp"
	"testing"
)

var validID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// FuzzCheckID: exactly the ids that can be upstream ids are accepted;
// every other one is BAD_USER_INPUT.
func FuzzCheckID(f *testing.F) {
	for _, seed := range []string{"661000009e3779b97f4a7c15", "", "a", "../etc", "ü", "a b", "x\x00", "-_-"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := checkID(id)
		if validID.MatchString(id) != (err == nil) {
			t.Fatalf("checkID(%q) = %v", id, err)
		}
		if err != nil && (!errors.Is(err, ErrBadInput) || codeOf(err) != CodeBadUserInput) {
			t.Fatalf("checkID(%q): %v is not BAD_USER_INPUT", id, err)
		}
	})
}
