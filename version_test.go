package main

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPrintVersion(t *testing.T) {
	t.Parallel()
	platform := runtime.GOOS + "/" + runtime.GOARCH
	for name, tc := range map[string]struct {
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		"built in a checkout": {
			&debug.BuildInfo{GoVersion: "go1.26.8", Settings: []debug.BuildSetting{
				{Key: "-trimpath", Value: "true"},
				{Key: "vcs.revision", Value: "6aa1bd0f2c7e"},
				{Key: "vcs.modified", Value: "false"},
			}},
			true,
			"version v1.2.3\ncommit 6aa1bd0f2c7e\ngo go1.26.8 " + platform + "\n",
		},
		"uncommitted changes": {
			&debug.BuildInfo{GoVersion: "go1.26.8", Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "6aa1bd0f2c7e"},
				{Key: "vcs.modified", Value: "true"},
			}},
			true,
			"version v1.2.3\ncommit 6aa1bd0f2c7e (modified)\ngo go1.26.8 " + platform + "\n",
		},
		"no vcs recorded": {
			&debug.BuildInfo{GoVersion: "go1.26.8"},
			true,
			"version v1.2.3\ncommit unknown\ngo go1.26.8 " + platform + "\n",
		},
		"no build info": {nil, false, "version v1.2.3\ncommit unknown\ngo " + runtime.Version() + " " + platform + "\n"},
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			printVersion(&out, "v1.2.3", tc.info, tc.ok)
			assert.Equal(t, tc.want, out.String())
		})
	}
}

// TestRunVersion: -version prints and returns before reading the
// configuration, so a bad environment does not hide it.
func TestRunVersion(t *testing.T) {
	t.Parallel()
	var stdout bytes.Buffer
	err := run(context.Background(), []string{"-version"}, env(map[string]string{"LOG_LEVEL": "loud"}), &stdout, io.Discard)
	require.NoError(t, err)
	assert.Regexp(t, `^version devel\ncommit \S+.*\ngo go1\.\S+ \S+/\S+\n$`, stdout.String())
}
