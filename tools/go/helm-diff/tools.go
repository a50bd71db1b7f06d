//go:build tools

// Package tools pins helm-diff for the development environment: tools/install_tools.py builds
// github.com/databus23/helm-diff/v3 from this module so go.sum verifies every dependency.
package tools

import _ "github.com/databus23/helm-diff/v3"
