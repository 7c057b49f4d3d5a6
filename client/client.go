// Package client is a Go client of mlops's HTTP API: one method per route,
// a context on every call, the server's own types in and out (records from
// package mlops, request and answer bodies from package api), problem
// details as a typed *Error, iterators that follow list cursors, retries
// that never store anything twice, and a PredictionLogger that batches
// predictions in the background.
//
//	c, err := client.New("http://127.0.0.1:8080", client.WithToken(os.Getenv("MLOPS_TOKEN")))
//	...
//	mv, err := c.ModelVersionActive(ctx, "churn")
//
// # Retries
//
// A request that is safe to repeat is retried, with exponential backoff and
// full jitter, when the server answers 429, 502, 503 or 504 (waiting at
// least its Retry-After) or the connection fails. Safe to repeat are GET,
// PUT and DELETE, activating a version and running the rules (both change
// nothing the second time), and any POST that carries an Idempotency-Key:
// the server answers a repeat of such a request with the first answer and
// creates nothing. The methods that create take one through the
// IdempotencyKey call option; the batch methods send one of their own
// unless given one. Any other POST is sent once.
//
// # Errors
//
// An answer other than 2xx is an *Error carrying the problem document
// (status, title, detail and the fields at fault). IsNotFound, IsConflict,
// IsInvalid and friends test for the common statuses, and an *Error also
// matches the root package's sentinels: errors.Is(err, mlops.ErrNotFound).
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultUserAgent is sent unless WithUserAgent says otherwise.
const DefaultUserAgent = "mlops-go-client"

// DefaultTimeout bounds each attempt of a request unless WithTimeout says
// otherwise.
const DefaultTimeout = 30 * time.Second

// maxAnswerBytes bounds how much of an error answer is read.
const maxAnswerBytes = 1 << 20

// Client calls one mlops server. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	hc        *http.Client
	auth      func(*http.Request)
	userAgent string
	timeout   time.Duration
	retry     RetryPolicy
}

// Option configures New.
type Option func(*Client)

// WithToken authenticates every request with a token's secret
// (Authorization: Bearer), as programs do: `mlops token create` prints it.
// An empty secret sends no credentials, for a server that needs none.
func WithToken(secret string) Option {
	return func(c *Client) {
		if secret == "" {
			c.auth = nil
			return
		}
		c.auth = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+secret) }
	}
}

// WithBasicAuth authenticates every request as a user, with a password.
func WithBasicAuth(user, password string) Option {
	return func(c *Client) {
		c.auth = func(r *http.Request) { r.SetBasicAuth(user, password) }
	}
}

// WithHTTPClient sends the requests through hc (its transport, proxy and
// TLS settings). Default: an http.Client of its own with
// http.DefaultTransport.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.hc = hc }
}

// WithTimeout bounds each attempt of a request: connecting, sending and
// reading the whole answer. A retried request may take several. 0 means no
// bound but the call's context. Default: DefaultTimeout.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) { c.timeout = d }
}

// WithRetry sets the retry policy of the requests that are safe to repeat.
// NoRetry sends each request once. Default: DefaultRetry.
func WithRetry(p RetryPolicy) Option {
	return func(c *Client) { c.retry = p }
}

// WithUserAgent sets the User-Agent header. Default: DefaultUserAgent.
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.userAgent = ua }
}

// New returns a client of the server at baseURL ("http://127.0.0.1:8080",
// or with a path prefix when a proxy serves mlops under one).
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("mlops: base URL %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("mlops: base URL %q: want http://host[:port] or https://host[:port]", baseURL)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath, u.RawQuery, u.Fragment = "", "", ""
	c := &Client{base: u, hc: &http.Client{}, userAgent: DefaultUserAgent, timeout: DefaultTimeout, retry: DefaultRetry}
	for _, o := range opts {
		o(c)
	}
	if c.hc == nil {
		c.hc = &http.Client{}
	}
	return c, nil
}

// CallOption configures one call.
type CallOption func(*call)

// IdempotencyKey sends key as the request's Idempotency-Key (1 to 255
// characters, unique per request: NewIdempotencyKey makes one). The server
// answers a repeat of the request with the same key and body, within 24
// hours, with its first answer and creates nothing; so the request is
// retried like a GET. Reuse the key when you send the same request again
// yourself, after a failure the client did not retry.
func IdempotencyKey(key string) CallOption {
	return func(c *call) { c.key = key }
}

// Header sends an extra header with the request (X-Request-ID, to find the
// request in the server's log).
func Header(name, value string) CallOption {
	return func(c *call) { c.header = append(c.header, [2]string{name, value}) }
}

// NewIdempotencyKey returns a new random key for IdempotencyKey.
func NewIdempotencyKey() string { return rand.Text() }

// call is one request: what to send, and how.
type call struct {
	method string
	path   string // escaped, from the root: /api/v1/models/3
	query  url.Values
	body   any // sent as JSON unless nil
	// safe marks a request that may be repeated (see the package doc); a
	// key makes any request safe.
	safe   bool
	key    string
	header [][2]string
	retry  RetryPolicy
}

func (c *Client) newCall(method, path string, opts []CallOption) *call {
	r := &call{method: method, path: path, retry: c.retry,
		safe: method == http.MethodGet || method == http.MethodPut || method == http.MethodDelete}
	for _, o := range opts {
		o(r)
	}
	return r
}

// do sends r, retrying as its policy allows, and decodes a 2xx answer's
// JSON into out; a *[]byte out receives the answer as is, and a nil out
// discards it.
func (c *Client) do(ctx context.Context, r *call, out any) error {
	var body []byte
	if r.body != nil {
		var err error
		if body, err = json.Marshal(r.body); err != nil {
			return fmt.Errorf("mlops: %s %s: encode the body: %w", r.method, r.path, err)
		}
	}
	safe := r.safe || r.key != ""
	for attempt := 0; ; attempt++ {
		err := c.attempt(ctx, r, body, out)
		if err == nil || !safe || ctx.Err() != nil {
			return err
		}
		retryAfter, again := retryable(err, attempt > 0 && r.key != "")
		if !again || r.retry.MaxAttempts > 0 && attempt+1 >= r.retry.MaxAttempts {
			return err
		}
		if !sleep(ctx, r.retry.delay(attempt, retryAfter)) {
			return err
		}
	}
}

// attempt sends r once.
func (c *Client) attempt(ctx context.Context, r *call, body []byte, out any) error {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	u := *c.base
	u.Path += r.path
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), rd)
	if err != nil {
		return fmt.Errorf("mlops: %s %s: %w", r.method, r.path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	req.Header.Set("User-Agent", c.userAgent)
	if r.key != "" {
		req.Header.Set("Idempotency-Key", r.key)
	}
	for _, h := range r.header {
		req.Header.Set(h[0], h[1])
	}
	if c.auth != nil {
		c.auth(req)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return &transportError{method: r.method, path: r.path, err: err}
	}
	defer res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		raw, rerr := io.ReadAll(io.LimitReader(res.Body, maxAnswerBytes))
		if rerr != nil && len(raw) == 0 {
			return &transportError{method: r.method, path: r.path, err: rerr}
		}
		return newError(r.method, r.path, res, raw)
	}
	switch out := out.(type) {
	case nil:
		_, err = io.Copy(io.Discard, res.Body)
	case *[]byte:
		*out, err = io.ReadAll(res.Body)
	default:
		err = json.NewDecoder(res.Body).Decode(out)
	}
	if err != nil {
		// A truncated answer (the connection dropped mid-body) is a
		// connection failure like any other: a safe request is retried.
		return &transportError{method: r.method, path: r.path, err: fmt.Errorf("read the answer: %w", err)}
	}
	return nil
}

// transportError is a request that got no complete answer: no connection,
// a connection that dropped, a timeout.
type transportError struct {
	method, path string
	err          error
}

func (e *transportError) Error() string {
	return fmt.Sprintf("mlops: %s %s: %v", e.method, e.path, e.err)
}

func (e *transportError) Unwrap() error { return e.err }

// retryable reports whether err is worth another attempt, and the least
// wait the server asked for. repeat is true for a keyed request sent
// before: its 409 may be the first attempt still in progress.
func retryable(err error, repeat bool) (time.Duration, bool) {
	var (
		te      *transportError
		badCert *tls.CertificateVerificationError
	)
	if errors.As(err, &te) {
		return 0, !errors.As(err, &badCert) // a certificate stays refused
	}
	var e *Error
	if !errors.As(err, &e) {
		return 0, false
	}
	switch e.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return e.RetryAfter, true
	case http.StatusConflict:
		return e.RetryAfter, repeat
	}
	return 0, false
}

// sleep waits d or until ctx ends, reporting whether it waited d.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// pathf builds an escaped path from a format of literal segments and
// values, each value escaped as one path segment.
func pathf(format string, args ...any) string {
	esc := make([]any, len(args))
	for i, a := range args {
		esc[i] = url.PathEscape(fmt.Sprint(a))
	}
	return fmt.Sprintf(format, esc...)
}
