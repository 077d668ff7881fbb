// Package templates holds the status page template, embedded in the binary
// and rendered with html/template by the httpapi package.
package templates

import "embed"

// FS holds status.html, the page served at "/".
//
//go:embed status.html
var FS embed.FS
