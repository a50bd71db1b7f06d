// Package multicall runs one of several Kubernetes components linked into one binary: the component is
// chosen by argv[0] (a symlink named after it) or else by the first argument.
package multicall

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
)

// Run starts the chosen component with the remaining arguments and exits with its status.
func Run(binary string, components map[string]func() *cobra.Command) {
	names := make([]string, 0, len(components))
	for name := range components {
		names = append(names, name)
	}
	sort.Strings(names)
	name := filepath.Base(os.Args[0])
	args := os.Args[1:]
	if _, ok := components[name]; !ok {
		if len(args) == 0 {
			fmt.Fprintf(os.Stderr, "usage: %s %s [flags]\n", binary, strings.Join(names, "|"))
			os.Exit(2)
		}
		name, args = args[0], args[1:]
	}
	newCommand, ok := components[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "%s: unknown component %q (%s)\n", binary, name, strings.Join(names, ", "))
		os.Exit(2)
	}
	command := newCommand()
	command.SetArgs(args)
	os.Exit(cli.Run(command))
}
