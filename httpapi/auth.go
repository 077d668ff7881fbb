package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/labstack/echo/v5"
)

// realm is the one realm the original uses for both APIs (spec §7.2).
const realm = `Basic realm="Reporter Token"`

// tokenChecker compares a Basic-auth password with a token in constant
// time (the username is ignored, as clients send an empty one).
type tokenChecker struct {
	sum [sha256.Size]byte
}

func newTokenChecker(token string) tokenChecker {
	return tokenChecker{sum: sha256.Sum256([]byte(token))}
}

// authorize answers 401 (missing or garbled credentials) or 403 (wrong
// password), both with the WWW-Authenticate header, and reports whether the
// request may proceed.
func (t tokenChecker) authorize(c *echo.Context) bool {
	password, ok := basicPassword(c.Request().Header.Get("Authorization"))
	if !ok {
		c.Response().Header().Set("WWW-Authenticate", realm)
		_ = c.NoContent(http.StatusUnauthorized)
		return false
	}
	sum := sha256.Sum256([]byte(password))
	if subtle.ConstantTimeCompare(sum[:], t.sum[:]) != 1 {
		c.Response().Header().Set("WWW-Authenticate", realm)
		_ = c.NoContent(http.StatusForbidden)
		return false
	}
	return true
}

// basicPassword extracts the password of an "Authorization: Basic …"
// header; the scheme is case-sensitive like the original's.
func basicPassword(header string) (string, bool) {
	enc, ok := strings.CutPrefix(header, "Basic ")
	if !ok {
		return "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if err != nil {
		return "", false
	}
	_, password, ok := strings.Cut(string(raw), ":")
	return password, ok
}
