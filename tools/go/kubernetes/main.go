// Command kube is one binary for the sandbox's Kubernetes control plane: kube-apiserver,
// kube-controller-manager and kube-scheduler share most of their packages, so one link is far cheaper
// than three. The component is chosen by the first argument (or by argv[0] when invoked through a
// symlink named after it).
package main

import (
	"github.com/spf13/cobra"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	"oneport.local/tools/kubernetes/multicall"
)

var components = map[string]func() *cobra.Command{
	"kube-apiserver":          apiserver.NewAPIServerCommand,
	"kube-controller-manager": controllermanager.NewControllerManagerCommand,
	"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
}

func main() {
	multicall.Run("kube", components)
}
