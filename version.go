package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is the release this binary was built as. A package-level var
// because only such a var can be set at link time:
// go build -ldflags "-X main.version=$(git describe --always --dirty)".
var version = "devel"

// printVersion writes what -version prints: the version stamped at link
// time, and the commit and Go version the toolchain recorded in the binary.
func printVersion(w io.Writer, version string, info *debug.BuildInfo, ok bool) {
	commit, modified, goVersion := "unknown", "", runtime.Version()
	if ok {
		goVersion = info.GoVersion
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision":
				commit = s.Value
			case s.Key == "vcs.modified" && s.Value == "true":
				modified = " (modified)"
			}
		}
	}
	fmt.Fprintf(w, "version %s\ncommit %s%s\ngo %s %s/%s\n", version, commit, modified, goVersion, runtime.GOOS, runtime.GOARCH)
}
