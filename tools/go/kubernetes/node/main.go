// Command kube-node is one binary for the sandbox's real node: kubelet and kube-proxy, built from the
// same k8s.io/kubernetes module and version as the control plane (../main.go). The component is chosen
// by the first argument (or by argv[0] when invoked through a symlink named after it).
package main

import (
	"github.com/spf13/cobra"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
	"oneport.local/tools/kubernetes/multicall"
)

var components = map[string]func() *cobra.Command{
	"kubelet":    kubelet.NewKubeletCommand,
	"kube-proxy": proxy.NewProxyCommand,
}

func main() {
	multicall.Run("kube-node", components)
}
