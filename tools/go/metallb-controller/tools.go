//go:build tools

// Package tools pins MetalLB's controller command so `go build go.universe.tf/metallb/controller`
// resolves from this module.
package tools

import _ "go.universe.tf/metallb/controller"
