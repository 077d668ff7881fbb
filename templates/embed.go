// Package templates holds the page templates, embedded in the binary and
// rendered with html/template by the httpapi package.
package templates

import "embed"

// FS holds status.html (the page served at "/"), history.html (the
// incident history at "/history") and parts.html (what they share, and the
// history fragments of the status page).
//
//go:embed status.html history.html parts.html
var FS embed.FS
