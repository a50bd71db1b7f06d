// Command kube-node is one binary for the sandbox's real node: kubelet and kube-proxy, built from the
// same k8s.io/kubernetes module and version as the control plane (../main.go). The component is chosen
// by the first argument (or by argv[0] when invoked through a symlink named after it).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

var components = map[string]func() *cobra.Command{
	"kubelet":    kubelet.NewKubeletCommand,
	"kube-proxy": proxy.NewProxyCommand,
}

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args[1:]
	if _, ok := components[name]; !ok {
		if len(args) == 0 {
			fmt.Fprintln(os.Stderr, "usage: kube-node kubelet|kube-proxy [flags]")
			os.Exit(2)
		}
		name, args = args[0], args[1:]
	}
	newCommand, ok := components[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "kube-node: unknown component %q (kubelet, kube-proxy)\n", name)
		os.Exit(2)
	}
	command := newCommand()
	command.SetArgs(args)
	os.Exit(cli.Run(command))
}
