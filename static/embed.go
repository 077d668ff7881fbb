// Package static holds the status page's static files (stylesheet, refresh
// script, badges, the example brand logo and icon under images/brand/,
// robots.txt), embedded in the binary and served under
// /assets/, /badge/ and /robots.txt. The layout mirrors an assets directory:
// a file with the same relative path in assets.path overrides the embedded
// one.
package static

import "embed"

// FS is the embedded assets tree: stylesheets/, javascripts/, images/ and
// public/.
//
//go:embed stylesheets javascripts images public
var FS embed.FS
