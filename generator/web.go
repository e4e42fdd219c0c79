package generator

import (
	"fmt"
	"strings"
)

// migrationRateLimits is the name of the web layer's migration.
const migrationRateLimits = "create_mcp_oauth_rate_limits"

// checkWebNames rejects Names the web layer cannot be written from.
func checkWebNames(n Names) error {
	if !isGoName(n.HandlerType) || !identPattern.MatchString(n.Resource) {
		return fmt.Errorf("web layer: handler %q or resource %q is not a Go identifier", n.HandlerType, n.Resource)
	}
	if !strings.HasPrefix(n.RoutePrefix, "/") || strings.HasSuffix(n.RoutePrefix, "/") ||
		strings.ContainsAny(n.RoutePrefix, " {}\"\\") {
		return fmt.Errorf("web layer: route prefix %q is not a plain absolute path", n.RoutePrefix)
	}
	if want := n.PackageDir + "/views/" + n.Resource; n.ViewDir != want {
		return fmt.Errorf("web layer: view folder %q is not %q, where views.go embeds it from", n.ViewDir, want)
	}
	return nil
}
