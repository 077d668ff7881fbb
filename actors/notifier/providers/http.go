package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// NewHTTPClient is the client notifiers share: redirects followed, gzip
// accepted (the Go default), no overall timeout (each attempt has its own
// context deadline).
func NewHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		MaxIdleConnsPerHost: 4,
		ForceAttemptHTTP2:   true,
	}}
}

// post sends body to target and succeeds on any 2xx status.
func post(ctx context.Context, client *http.Client, target, contentType string, body []byte, header http.Header) error {
	return send(ctx, client, http.MethodPost, target, contentType, body, header)
}

// send makes one request with body and succeeds on any 2xx status; the
// error quotes the start of the answer but never the URL's query or
// credentials.
func send(ctx context.Context, client *http.Client, method, target, contentType string, body []byte, header http.Header) error {
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("HTTP %d from %s: %s", resp.StatusCode, redact(target), strings.TrimSpace(string(snippet)))
	}
	return nil
}

// postJSON marshals v and posts it as application/json.
func postJSON(ctx context.Context, client *http.Client, target string, v any, header http.Header) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return post(ctx, client, target, "application/json", body, header)
}

// redact drops the query (which may carry tokens) from a URL for logs.
func redact(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return "(invalid url)"
	}
	u.RawQuery = ""
	u.User = nil
	return u.String()
}
