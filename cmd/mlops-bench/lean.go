package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// leanTimeout bounds one request, like the net/http client's Timeout.
const leanTimeout = 120 * time.Second

// leanMaxBody is how much of a response body post keeps; the rest is read
// and discarded. The body only serves error messages.
const leanMaxBody = 64 << 10

// leanClient is a minimal HTTP/1.1 client over one keep-alive connection,
// for the single-prediction POST loop: it costs the load generator about
// half the CPU of net/http per request (like wrk), which matters when the
// generator, the server and the database share two cores. One request is in
// flight at a time (no pipelining); a leanClient is not safe for concurrent
// use, so each worker goroutine has its own.
type leanClient struct {
	addr string // host:port to dial, also sent as Host
	conn net.Conn
	br   *bufio.Reader
	req  []byte // reused request buffer
	body []byte // reused response body buffer
	// header holds extra header lines ("Name: value\r\n" each), sent with
	// every request, such as Authorization; set with addHeader.
	header []byte
}

// newLeanClient returns a client for base, an "http://host:port" URL. It
// dials on the first request.
func newLeanClient(base string) (*leanClient, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("lean client: %q is not an http://host:port URL", base)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	return &leanClient{addr: addr}, nil
}

// addHeader adds a header sent with every request. The name must be a
// token and the value free of control characters, so neither can split the
// request.
func (c *leanClient) addHeader(name, value string) error {
	if name == "" || strings.ContainsFunc(name, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", r)
	}) {
		return fmt.Errorf("lean client: %q is not a header name", name)
	}
	if strings.ContainsFunc(value, func(r rune) bool { return (r < ' ' && r != '\t') || r == 0x7f }) {
		return fmt.Errorf("lean client: the value of header %s has a control character", name)
	}
	c.header = append(c.header, name...)
	c.header = append(c.header, ": "...)
	c.header = append(c.header, value...)
	c.header = append(c.header, "\r\n"...)
	return nil
}

// post sends body to path as JSON and returns the status code and the first
// leanMaxBody bytes of the response body, valid until the next call. On an
// I/O or protocol error it closes the connection; the next call redials.
func (c *leanClient) post(path string, body []byte) (int, []byte, error) {
	code, err := c.roundTrip(path, body)
	if err != nil {
		c.close()
		return 0, nil, fmt.Errorf("POST %s: %w", path, err)
	}
	return code, c.body, nil
}

func (c *leanClient) roundTrip(path string, body []byte) (int, error) {
	if c.conn == nil {
		conn, err := net.Dial("tcp", c.addr)
		if err != nil {
			return 0, err
		}
		c.conn = conn
		if c.br == nil {
			c.br = bufio.NewReader(conn)
		} else {
			c.br.Reset(conn)
		}
	}
	if err := c.conn.SetDeadline(time.Now().Add(leanTimeout)); err != nil {
		return 0, err
	}
	c.req = append(c.req[:0], "POST "...)
	c.req = append(c.req, path...)
	c.req = append(c.req, " HTTP/1.1\r\nHost: "...)
	c.req = append(c.req, c.addr...)
	c.req = append(c.req, "\r\n"...)
	c.req = append(c.req, c.header...)
	c.req = append(c.req, "Content-Type: application/json\r\nContent-Length: "...)
	c.req = strconv.AppendInt(c.req, int64(len(body)), 10)
	c.req = append(c.req, "\r\n\r\n"...)
	c.req = append(c.req, body...)
	// One Write: one syscall per request, and no small-segment delays.
	if _, err := c.conn.Write(c.req); err != nil {
		return 0, err
	}
	code, keepAlive, err := c.readResponse()
	if err != nil {
		return 0, err
	}
	if !keepAlive {
		c.close()
	}
	return code, nil
}

// close closes the connection, if any.
func (c *leanClient) close() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}

// readResponse reads one response into c.body and reports whether the
// connection may carry the next request.
func (c *leanClient) readResponse() (code int, keepAlive bool, err error) {
	var (
		chunked, untilEOF bool
		length            int64
	)
	for {
		line, err := c.line()
		if err != nil {
			return 0, false, fmt.Errorf("read status line: %w", err)
		}
		// "HTTP/1.1 201 Created", the reason phrase being optional.
		if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
			return 0, false, fmt.Errorf("malformed status line %q", line)
		}
		code, err = strconv.Atoi(string(line[9:12]))
		if err != nil || code < 100 {
			return 0, false, fmt.Errorf("malformed status line %q", line)
		}
		keepAlive, chunked, untilEOF, length, err = c.headers(line[7] == '1')
		if err != nil {
			return 0, false, err
		}
		if code == 101 {
			return 0, false, errors.New("unexpected 101 Switching Protocols")
		}
		if code >= 200 {
			break
		}
		// An interim 1xx response: the final one follows.
	}
	c.body = c.body[:0]
	switch {
	case code == 204 || code == 304:
		// No body, whatever the headers say.
	case chunked:
		err = c.readChunked()
	case untilEOF:
		keepAlive = false
		err = c.readToEOF()
	default:
		err = c.readBody(length)
	}
	return code, keepAlive, err
}

// headers reads the header section up to its empty line and returns what
// framing the body has: chunked, delimited by the connection's close
// (untilEOF), or length bytes long.
func (c *leanClient) headers(http11 bool) (keepAlive, chunked, untilEOF bool, length int64, err error) {
	length = -1
	var closeTok, keepTok, te bool
	for {
		line, err := c.line()
		if err != nil {
			return false, false, false, 0, fmt.Errorf("read headers: %w", err)
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return false, false, false, 0, fmt.Errorf("malformed header line %q", line)
		}
		value = bytes.Trim(value, " \t")
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.ParseUint(string(value), 10, 63)
			if err != nil || (length >= 0 && int64(n) != length) {
				return false, false, false, 0, fmt.Errorf("bad Content-Length %q", value)
			}
			length = int64(n)
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			te = true
			// Chunked must be the final coding; anything else ends at close.
			codings := bytes.Split(value, []byte(","))
			chunked = bytes.EqualFold(bytes.Trim(codings[len(codings)-1], " \t"), []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			for tok := range bytes.SplitSeq(value, []byte(",")) {
				tok = bytes.Trim(tok, " \t")
				closeTok = closeTok || bytes.EqualFold(tok, []byte("close"))
				keepTok = keepTok || bytes.EqualFold(tok, []byte("keep-alive"))
			}
		}
	}
	// Transfer-Encoding overrides Content-Length (RFC 9112, 6.3).
	untilEOF = (te && !chunked) || (!te && length < 0)
	return !closeTok && (http11 || keepTok), chunked, untilEOF, length, nil
}

// readChunked decodes a chunked body and its trailer section.
func (c *leanClient) readChunked() error {
	for {
		line, err := c.line()
		if err != nil {
			return fmt.Errorf("read chunk size: %w", err)
		}
		hex, _, _ := bytes.Cut(line, []byte(";")) // chunk extensions are ignored
		size, err := strconv.ParseUint(string(bytes.Trim(hex, " \t")), 16, 63)
		if err != nil {
			return fmt.Errorf("bad chunk size %q", line)
		}
		if size == 0 {
			break
		}
		if err := c.readBody(int64(size)); err != nil {
			return err
		}
		if line, err := c.line(); err != nil || len(line) != 0 {
			return fmt.Errorf("missing CRLF after chunk data: %q, %v", line, err)
		}
	}
	for {
		line, err := c.line()
		if err != nil {
			return fmt.Errorf("read trailers: %w", err)
		}
		if len(line) == 0 {
			return nil
		}
	}
}

// readBody reads the next n body bytes, keeping those that fit in
// leanMaxBody.
func (c *leanClient) readBody(n int64) error {
	if keep := min(n, int64(leanMaxBody-len(c.body))); keep > 0 {
		start := len(c.body)
		c.body = append(c.body, make([]byte, keep)...)
		if _, err := io.ReadFull(c.br, c.body[start:]); err != nil {
			return unexpectedEOF(err)
		}
		n -= keep
	}
	if n > 0 {
		if _, err := io.CopyN(io.Discard, c.br, n); err != nil {
			return unexpectedEOF(err)
		}
	}
	return nil
}

// readToEOF reads a body delimited by the server closing the connection.
func (c *leanClient) readToEOF() error {
	b, err := io.ReadAll(io.LimitReader(c.br, leanMaxBody))
	c.body = append(c.body, b...)
	if err == nil {
		_, err = io.Copy(io.Discard, c.br)
	}
	return err
}

// line returns the next line without its CRLF (or bare LF); it is valid
// until the next read.
func (c *leanClient) line() ([]byte, error) {
	b, err := c.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, errors.New("line longer than the read buffer")
	}
	if err != nil {
		if err == io.EOF && len(b) > 0 {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	b = b[:len(b)-1]
	if len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	return b, nil
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// postSingles has each of the lean clients post one prediction a request
// for d, then closes them.
func postSingles(lean []*leanClient, d time.Duration, modelID int64) *stats {
	st := loop(len(lean), d, func(wk, i int) (int, error) {
		code, body, err := lean[wk].post("/api/v1/predictions", predictionJSON(modelID, i))
		if err == nil && code != http.StatusCreated {
			err = fmt.Errorf("status %d: %s", code, body)
		}
		return 1, err
	})
	for _, lc := range lean {
		lc.close()
	}
	return st
}
