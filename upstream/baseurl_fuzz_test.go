package upstream

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// fuzzPassword starts the password of the URLs FuzzCleanBaseURL builds with
// credentials; no part of it may show in an error.
const fuzzPassword = "Sekr3tPw"

// FuzzCleanBaseURL: for any base URL, cleanBaseURL never panics, and either
// refuses it with one line starting "upstream: invalid base URL", or returns
// an http(s) URL with a host, no user info, query, fragment or trailing
// slash, that it returns unchanged when given again. A URL written with a
// password (user:password@...) is always refused, and the error shows no
// part of the password, whatever characters follow it.
func FuzzCleanBaseURL(f *testing.F) {
	for _, s := range [][3]string{
		{"https://api.v7.botpenguin.com", "u", ""},
		{"http://127.0.0.1:8080/", "", "x"},
		{"https://api.example.com/v1//", "admin", ":"},
		{"https://h?x#y", "u", "q@host"},
		{"https://h?", "u:v", "%41"},
		{"ftp://h", "u", "%zz"},
		{"https://[::1]:443", "", "@"},
		{"https://h:port", "u", "x@h"},
		{" https://h ", "", ""},
		{"https://", "", ""},
		{"https://h/%zz", "", ""},
		{"https://h\x7f", "", ""},
		{"https://h/a%2Fb:", "", ""},
		{"http://h:/v1", "", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, raw, user, pass string) {
		out, err := cleanBaseURL(raw)
		if err != nil {
			checkBaseURLError(t, raw, err)
		} else {
			u, perr := url.Parse(out)
			if perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
				u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.HasSuffix(out, "/") {
				t.Fatalf("%q accepted as %q", raw, out)
			}
			if again, err := cleanBaseURL(out); err != nil || again != out {
				t.Fatalf("%q accepted as %q, which gives %q, %v", raw, out, again, err)
			}
			checkRequestURL(t, raw, url.Values{"page": {"3"}, "sort": {user + pass}}.Encode())
		}

		// The same host, with user:password@ in front.
		if strings.ContainsAny(user, "/?#@") {
			return // the password would not be in the user info as written
		}
		for _, s := range []string{user, pass, raw} {
			if sharesWindow(s, fuzzPassword) {
				return
			}
		}
		host := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(raw), "https://"), "http://")
		withCreds := "https://" + user + ":" + fuzzPassword + pass + "@" + host
		out, err = cleanBaseURL(withCreds)
		if err == nil {
			t.Fatalf("%q accepted as %q", withCreds, out)
		}
		checkBaseURLError(t, withCreds, err)
		if sharesWindow(err.Error(), fuzzPassword) {
			t.Fatalf("%q: the error shows the password: %q", withCreds, err)
		}
	})
}

// checkRequestURL: the URL of a call below an accepted base URL is the one
// http.NewRequest reads from the call's whole URL, field by field.
func checkRequestURL(t *testing.T, raw, query string) {
	t.Helper()
	c, err := New(raw)
	if err != nil {
		t.Fatalf("%q: accepted by cleanBaseURL, refused by New: %v", raw, err)
	}
	req, err := c.newRequest("list customers", http.MethodGet, "/customer/list", query, "t", nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := http.NewRequest(http.MethodGet, req.url, nil)
	if err != nil {
		t.Fatalf("%q: http.NewRequest refuses %q: %v", raw, req.url, err)
	}
	if got := c.requestURL(req); *got != *want.URL || got.Host != want.Host {
		t.Fatalf("%q: the call's URL is %#v, http.NewRequest reads %#v", raw, *got, *want.URL)
	}
}

func checkBaseURLError(t *testing.T, raw string, err error) {
	t.Helper()
	if msg := err.Error(); !strings.HasPrefix(msg, "upstream: invalid base URL") || strings.ContainsAny(msg, "\r\n") {
		t.Fatalf("%q refused with %q", raw, msg)
	}
}

// sharesWindow reports whether s holds any 4 consecutive bytes of secret.
func sharesWindow(s, secret string) bool {
	for i := 0; i+4 <= len(secret); i++ {
		if strings.Contains(s, secret[i:i+4]) {
			return true
		}
	}
	return false
}
