package jsonstr

import "strings"

// Scanner is where a hand-written decoder is in its JSON input, with the
// reads every such decoder makes. Each reads at I exactly; SkipSpace
// skips the whitespace JSON allows between tokens.
type Scanner struct {
	S string // the input
	I int    // where the next read starts
}

// SkipSpace moves past JSON whitespace.
func (s *Scanner) SkipSpace() {
	i := s.I
	for i < len(s.S) && (s.S[i] == ' ' || s.S[i] == '\t' || s.S[i] == '\n' || s.S[i] == '\r') {
		i++
	}
	s.I = i
}

// Next reads the byte c, if it comes next.
func (s *Scanner) Next(c byte) bool {
	if s.I < len(s.S) && s.S[s.I] == c {
		s.I++
		return true
	}
	return false
}

// Literal reads word (true, false, null), if it comes next.
func (s *Scanner) Literal(word string) bool {
	if strings.HasPrefix(s.S[s.I:], word) {
		s.I += len(word)
		return true
	}
	return false
}

// Quoted reads a JSON string and returns its value (see Read).
func (s *Scanner) Quoted() (string, bool) {
	if !s.Next('"') {
		return "", false
	}
	v, end, ok := Read(s.S, s.I)
	s.I = end
	return v, ok
}
