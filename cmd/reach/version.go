package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// buildVersion is what this binary knows of its own build.
type buildVersion struct {
	Version  string `json:"version"`            // the module version ("v1.2.0"), or "dev"
	Revision string `json:"revision,omitempty"` // the VCS commit it was built from
	Time     string `json:"time,omitempty"`     // the commit's time, RFC 3339
	Modified bool   `json:"modified,omitempty"` // the work tree had uncommitted changes
	Go       string `json:"go"`                 // the Go toolchain that built it
	Platform string `json:"platform"`           // GOOS/GOARCH
}

// readVersion reads the build: the -ldflags version when one was set, else
// the module version and VCS stamp that `go build` and `go install` record.
func readVersion(info *debug.BuildInfo, ok bool) buildVersion {
	v := buildVersion{Version: version, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if !ok || info == nil {
		return v
	}
	if version == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		v.Version = info.Main.Version
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// String is the line of `reach version`, without the leading "reach version ":
// "v1.2.0 (rev 1a2b3c4d5e6f, 2025-11-30T10:00:00Z, modified; go1.24.1 linux/amd64)".
func (v buildVersion) String() string {
	var parts []string
	if v.Revision != "" {
		rev := v.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		parts = append(parts, "rev "+rev)
	}
	if v.Time != "" {
		parts = append(parts, v.Time)
	}
	if v.Modified {
		parts = append(parts, "modified")
	}
	build := v.Go + " " + v.Platform
	if len(parts) == 0 {
		return fmt.Sprintf("%s (%s)", v.Version, build)
	}
	return fmt.Sprintf("%s (%s; %s)", v.Version, strings.Join(parts, ", "), build)
}

func currentVersion() buildVersion { return readVersion(debug.ReadBuildInfo()) }

func newVersionCmd(ios *IOStreams) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version and the commit reach was built from",
		Long: `Print reach's module version and the VCS revision it was built from, as
recorded by go build (a binary built outside a git clone has no revision).`,
		Example: `  reach version
  reach version --json`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			v := currentVersion()
			if asJSON {
				ios.writeJSON(v)
				return nil
			}
			ios.result("reach version %s", v)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the version as one JSON object on stdout")
	return cmd
}
