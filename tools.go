//go:build tools

// Package main pins the code generator so that `go run github.com/99designs/gqlgen`
// uses the version in go.mod.
package main

import _ "github.com/99designs/gqlgen"
