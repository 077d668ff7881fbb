package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/labstack/echo/v5"
)

// Authentication (spec §7.2). The reporter and Manager APIs take the
// token as the password of Basic auth, with any username (clients send an
// empty one); /metrics and the MCP endpoint take theirs as a Bearer token
// or as a Basic password. Tokens are compared in constant time (as SHA-256 sums, so the
// length does not leak either), and read per request from the current site
// configuration, so a reload changes them at once.

// realm is the one realm the original uses for both APIs (spec §7.2).
const realm = `Basic realm="Reporter Token"`

// metricsRealm is announced on a refused /metrics request.
const metricsRealm = `Bearer realm="metrics"`

// tokenChecker compares a password with a token in constant time.
type tokenChecker struct {
	sum [sha256.Size]byte
}

func newTokenChecker(token string) tokenChecker {
	return tokenChecker{sum: sha256.Sum256([]byte(token))}
}

// matches tells whether password is the token.
func (t tokenChecker) matches(password string) bool {
	sum := sha256.Sum256([]byte(password))
	return subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1
}

// basicAuth is the middleware of an API group: a request without usable
// Basic credentials gets 401, one with a wrong password 403, both with the
// WWW-Authenticate header and an empty body; the handler does not run.
// token picks the group's checker from the site configuration.
func (s *Server) basicAuth(token func(*siteConfig) tokenChecker) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			password, ok := basicPassword(c.Request().Header.Get("Authorization"))
			if !ok {
				c.Response().Header().Set("WWW-Authenticate", realm)
				return c.NoContent(http.StatusUnauthorized)
			}
			if !token(s.site.Load()).matches(password) {
				c.Response().Header().Set("WWW-Authenticate", realm)
				return c.NoContent(http.StatusForbidden)
			}
			return next(c)
		}
	}
}

// gated answers a request to a route that the site configuration turns on
// and an optional token protects (/metrics, MCP): an empty 404 while off,
// as for an unknown path; 401 announcing realm without the token
// (tokenAuthorized); otherwise h answers.
func gated(c *echo.Context, on bool, token *tokenChecker, realm string, h http.Handler) error {
	if !on {
		return c.NoContent(http.StatusNotFound)
	}
	if !tokenAuthorized(token, c.Request().Header.Get("Authorization")) {
		c.Response().Header().Set("WWW-Authenticate", realm)
		return c.NoContent(http.StatusUnauthorized)
	}
	h.ServeHTTP(c.Response(), c.Request())
	return nil
}

// tokenAuthorized tells whether a request to a route with an optional
// token (/metrics, MCP) may be answered: always without a token, else with
// it as a Bearer token or Basic password.
func tokenAuthorized(t *tokenChecker, header string) bool {
	if t == nil {
		return true
	}
	got, ok := strings.CutPrefix(header, "Bearer ")
	if !ok {
		got, ok = basicPassword(header)
	}
	// Compared even without credentials, so both cases take as long.
	return t.matches(got) && ok
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
