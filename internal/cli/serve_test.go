package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlopsdev/mlops"
	"github.com/mlopsdev/mlops/internal/auth"
	"github.com/mlopsdev/mlops/store"
	"github.com/mlopsdev/mlops/store/storetest"
)

// server is `mlops serve` running in-process on a free port.
type server struct {
	base   string
	cancel context.CancelFunc
	done   chan struct{} // closed when serve returned
	code   int           // its exit code
	stderr *storetest.LogBuffer
}

// startServe runs `mlops serve --addr 127.0.0.1:0 args...` and waits for
// the line that names the address.
func startServe(t *testing.T, env map[string]string, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	outR, outW := io.Pipe()
	s := &server{cancel: cancel, done: make(chan struct{}), stderr: &storetest.LogBuffer{}}
	go func() {
		code := Run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...),
			func(k string) string { return env[k] }, outW, s.stderr)
		outW.Close()
		s.code = code
		close(s.done)
	}()
	sc := bufio.NewScanner(outR)
	for sc.Scan() {
		if addr, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
			s.base = addr
			break
		}
	}
	if s.base == "" {
		t.Fatalf("serve did not print its address; stderr:\n%s", s.stderr.String())
	}
	go io.Copy(io.Discard, outR)
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	return s
}

// stop sends the shutdown signal and returns the exit code.
func (s *server) stop() int {
	s.cancel()
	<-s.done
	return s.code
}

func (s *server) get(t *testing.T, path string) (int, map[string]any) {
	t.Helper()
	res, err := http.Get(s.base + path)
	return decodeReply(t, "GET "+path, res, err)
}

func (s *server) post(t *testing.T, path, body string) (int, map[string]any) {
	t.Helper()
	res, err := http.Post(s.base+path, "application/json", strings.NewReader(body))
	return decodeReply(t, "POST "+path, res, err)
}

// decodeReply returns the status and JSON body of the reply to request;
// err, the request's error, fails the test.
func decodeReply(t *testing.T, request string, res *http.Response, err error) (int, map[string]any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", request, err)
	}
	defer res.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m
}

// TestServeReadyzFollowsMigrations: with --no-migrate on an empty database
// /readyz is 503 naming the migrations; it turns 200 as soon as another
// process applies them, without a restart.
func TestServeReadyzFollowsMigrations(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, dbURL string) {
		s := startServe(t, map[string]string{"DATABASE_URL": dbURL}, "--no-migrate")
		code, body := s.get(t, "/readyz")
		if code != 503 || !strings.Contains(fmt.Sprint(body["detail"]), "migrat") {
			t.Fatalf("readyz before migrating: %d %v; want 503 naming migrations", code, body)
		}
		if code, _ := s.get(t, "/healthz"); code != 200 {
			t.Errorf("healthz: %d", code)
		}
		// API routes on the unmigrated database: 503 naming the cause, not a 500.
		if code, body := s.post(t, "/api/v1/models", `{"model_name":"m","version":"1","algorithm":"a"}`); code != 503 ||
			!strings.Contains(fmt.Sprint(body["detail"]), "migrate upgrade") {
			t.Fatalf("POST /api/v1/models before migrating: %d %v; want 503 naming the migrations", code, body)
		}
		if code, out, errs := run(t, dbURL, "migrate", "upgrade"); code != 0 {
			t.Fatalf("migrate upgrade: %d %s %s", code, out, errs)
		}
		if code, body := s.get(t, "/readyz"); code != 200 || body["status"] != "ready" {
			t.Fatalf("readyz after another process migrated: %d %v", code, body)
		}
		// Down one revision: pending again, 503 again.
		if code, out, errs := run(t, dbURL, "migrate", "downgrade"); code != 0 {
			t.Fatalf("migrate downgrade: %d %s %s", code, out, errs)
		}
		if code, body := s.get(t, "/readyz"); code != 503 || !strings.Contains(fmt.Sprint(body["detail"]), "pending") {
			t.Fatalf("readyz after a downgrade: %d %v", code, body)
		}
		if code := s.stop(); code != 0 {
			t.Fatalf("serve exited %d after the shutdown signal; stderr:\n%s", code, s.stderr.String())
		}
	})
}

// TestServeGracefulShutdown: a request in flight when the shutdown signal
// arrives is finished and stored; new connections are refused; serve exits
// 0 and closes the store.
func TestServeGracefulShutdown(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, dbURL string) {
		s := startServe(t, map[string]string{"DATABASE_URL": dbURL})
		if code, body := s.post(t, "/api/v1/models", `{"model_name":"m","version":"1","algorithm":"a"}`); code != 201 {
			t.Fatalf("create model: %d %v", code, body)
		}
		const n = 2000
		var items []string
		for i := 0; i < n; i++ {
			items = append(items, fmt.Sprintf(`{"model_id":1,"prediction":%d}`, i%2))
		}
		payload := `{"predictions":[` + strings.Join(items, ",") + `]}`
		half := len(payload) / 2

		// Send half the body, so the request is in flight.
		pr, pw := io.Pipe()
		req, _ := http.NewRequest("POST", s.base+"/api/v1/predictions/batch", pr)
		req.Header.Set("Content-Type", "application/json")
		type answer struct {
			code int
			err  error
		}
		answered := make(chan answer, 1)
		go func() {
			res, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
			if err != nil {
				answered <- answer{err: err}
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			answered <- answer{code: res.StatusCode}
		}()
		if _, err := io.WriteString(pw, payload[:half]); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the batch request to be in flight", func() bool {
			_, m := metricsText(t, s.base)
			return strings.Contains(m, "mlops_http_requests_in_flight 2")
		})

		// Signal shutdown; wait until the listener is closed.
		s.cancel()
		host := strings.TrimPrefix(s.base, "http://")
		waitUntil(t, "the listener to close", func() bool {
			c, err := net.Dial("tcp", host)
			if err != nil {
				return true
			}
			c.Close()
			return false
		})

		// The in-flight request completes and is acknowledged.
		if _, err := io.WriteString(pw, payload[half:]); err != nil {
			t.Fatal(err)
		}
		pw.Close()
		a := <-answered
		if a.err != nil || a.code != 201 {
			t.Fatalf("in-flight request during shutdown: %d %v; want 201", a.code, a.err)
		}
		if code := s.stop(); code != 0 {
			t.Fatalf("serve exited %d; stderr:\n%s", code, s.stderr.String())
		}
		st := storetest.OpenURL(t, dbURL, store.Options{})
		var stored int
		if err := st.DB().QueryRow(`SELECT count(*) FROM predictions`).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if stored != n {
			t.Fatalf("%d predictions stored, want the %d acknowledged", stored, n)
		}
	})
}

func metricsText(t *testing.T, base string) (int, string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := c.Get(base + "/metrics")
	if err != nil {
		return 0, ""
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// waitUntil polls cond; the deadline only guards against a hang.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestServeLogs: one line per request with method, route, status,
// duration and request id; the database password never appears, even with
// DATABASE_ECHO.
func TestServeLogs(t *testing.T) {
	base := storetest.URL(t, store.Postgres)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	const secret = "s3cret-Passw0rd"
	u.User = url.UserPassword(u.User.Username(), secret)
	s := startServe(t, map[string]string{"DATABASE_URL": u.String(), "DATABASE_ECHO": "true"})
	req, _ := http.NewRequest("POST", s.base+"/api/v1/models", strings.NewReader(`{"model_name":"m","version":"1","algorithm":"a"}`))
	req.Header.Set("X-Request-ID", "req-abc-123")
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 201 || res.Header.Get("X-Request-ID") != "req-abc-123" {
		t.Fatalf("POST: %d, X-Request-ID %q", res.StatusCode, res.Header.Get("X-Request-ID"))
	}
	s.get(t, "/api/v1/models/77")
	s.get(t, "/readyz")
	ui, err := http.Get(s.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	ui.Body.Close()
	if ui.StatusCode != 200 || !strings.HasPrefix(ui.Header.Get("Content-Type"), "text/html") {
		t.Errorf("GET / (the admin UI): %d %s", ui.StatusCode, ui.Header.Get("Content-Type"))
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	logs := s.stderr.String()
	for _, want := range []string{
		`msg=request method=POST route="POST /api/v1/models" path=/api/v1/models status=201 duration=`,
		`request_id=req-abc-123`,
		`route="GET /api/v1/models/{id}" path=/api/v1/models/77 status=404`,
		`msg=sql`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, secret) {
		t.Errorf("the database password appears in the logs:\n%s", logs)
	}
}

func TestServeFlags(t *testing.T) {
	dbURL := storetest.URL(t, store.SQLite)
	if code, _, errs := run(t, dbURL, "serve", "extra"); code != 2 || !strings.Contains(errs, "no arguments") {
		t.Errorf("serve extra: code %d, stderr %q", code, errs)
	}
	if code, _, errs := run(t, dbURL, "serve", "--addr", "127.0.0.1:99999"); code != 1 || !strings.Contains(errs, "listen on") {
		t.Errorf("bad --addr: code %d, stderr %q", code, errs)
	}
}

// TestServeAutoRefusesOpenNonLoopback: in auth mode auto with no account,
// serve refuses a non-loopback --addr with the advice of docs/api.md; with
// MLOPS_AUTH=off it starts (warning that auth is off).
func TestServeAutoRefusesOpenNonLoopback(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, dbURL string) {
		code, out, errs := run(t, dbURL, "serve", "--addr", "0.0.0.0:0")
		const advice = "create an admin with `mlops user create NAME --role admin`, or set MLOPS_AUTH=off"
		if code != 1 || !strings.Contains(errs, advice) || strings.Contains(out, "listening on") {
			t.Fatalf("auto, no account, 0.0.0.0: code %d, out %q, err %q; want exit 1 with the advice", code, out, errs)
		}

		s := startServe(t, map[string]string{"DATABASE_URL": dbURL, "MLOPS_AUTH": "off"}, "--addr", "0.0.0.0:0")
		_, port, _ := net.SplitHostPort(strings.TrimPrefix(s.base, "http://"))
		s.base = "http://127.0.0.1:" + port
		if code, _ := s.get(t, "/healthz"); code != 200 {
			t.Errorf("healthz with MLOPS_AUTH=off: %d", code)
		}
		if code := s.stop(); code != 0 {
			t.Fatalf("exit %d; stderr:\n%s", code, s.stderr.String())
		}
		if logs := s.stderr.String(); !strings.Contains(logs, "authentication is off: anyone who can reach") {
			t.Errorf("no warning that auth is off:\n%s", logs)
		}

		// Once an account exists, auto mode serves any address.
		if code, _, errs := runWithInput(t, dbURL, "a-long-enough-password", "user", "create", "root", "--role", "admin", "--password-stdin"); code != 0 {
			t.Fatalf("user create: %d %s", code, errs)
		}
		s = startServe(t, map[string]string{"DATABASE_URL": dbURL}, "--addr", "0.0.0.0:0")
		if code := s.stop(); code != 0 {
			t.Fatalf("auto with an account on 0.0.0.0: exit %d; stderr:\n%s", code, s.stderr.String())
		}
	})
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "localhost:80": true, "[::1]:8080": true, "127.1.2.3:1": true,
		":8080": false, "0.0.0.0:8080": false, "[::]:8080": false, "10.0.0.5:8080": false, "example.com:80": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

// TestServeBootstrapAdmin: MLOPS_BOOTSTRAP_ADMIN creates that admin when no
// account exists (so a container on 0.0.0.0 starts in auto mode), and does
// nothing on a later start; the password never reaches the logs.
func TestServeBootstrapAdmin(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		dir := t.TempDir()
		const pw = "bootstrap-passw0rd"
		pwFile := filepath.Join(dir, "pw")
		if err := os.WriteFile(pwFile, []byte(pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		short := filepath.Join(dir, "short")
		if err := os.WriteFile(short, []byte("tooshort\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		env := func(name, file string) map[string]string {
			return map[string]string{"DATABASE_URL": dbURL, "MLOPS_BOOTSTRAP_ADMIN": name, "MLOPS_BOOTSTRAP_PASSWORD_FILE": file}
		}
		runEnv := func(env map[string]string, args ...string) (int, string) {
			var out, errb bytes.Buffer
			code := Run(ctx, args, func(k string) string { return env[k] }, &out, &errb)
			return code, errb.String()
		}

		if code, errs := runEnv(env("root", short), "serve"); code != 1 || !strings.Contains(errs, "at least 12 characters") || strings.Contains(errs, "tooshort") {
			t.Fatalf("short bootstrap password: code %d, err %q", code, errs)
		}
		if code, errs := runEnv(env("root", filepath.Join(dir, "missing")), "serve"); code != 1 || !strings.Contains(errs, "MLOPS_BOOTSTRAP_PASSWORD_FILE") {
			t.Fatalf("missing password file: code %d, err %q", code, errs)
		}
		if code, errs := runEnv(map[string]string{"DATABASE_URL": dbURL, "MLOPS_BOOTSTRAP_ADMIN": "root"}, "serve"); code != 1 || !strings.Contains(errs, "MLOPS_BOOTSTRAP_PASSWORD_FILE") {
			t.Fatalf("no password file named: code %d, err %q", code, errs)
		}

		s := startServe(t, env("root", pwFile), "--addr", "0.0.0.0:0")
		if code := s.stop(); code != 0 {
			t.Fatalf("serve with a bootstrap admin on 0.0.0.0: exit %d; stderr:\n%s", code, s.stderr.String())
		}
		logs := s.stderr.String()
		if !strings.Contains(logs, "created admin root") || strings.Contains(logs, pw) {
			t.Fatalf("logs: want \"created admin root\" and no password:\n%s", logs)
		}
		st := storetest.OpenURL(t, dbURL, store.Options{})
		u, hash, err := st.UserPasswordHash(ctx, "root")
		if err != nil || u.Role != mlops.RoleAdmin || !auth.CheckPassword(hash, pw) {
			t.Fatalf("bootstrap admin: %+v, %v, password verifies: %v", u, err, auth.CheckPassword(hash, pw))
		}

		s = startServe(t, env("other", pwFile))
		if code := s.stop(); code != 0 {
			t.Fatalf("second start: exit %d; stderr:\n%s", code, s.stderr.String())
		}
		if strings.Contains(s.stderr.String(), "created admin") {
			t.Errorf("the second start created an admin:\n%s", s.stderr.String())
		}
		if _, err := st.UserGet(ctx, "other"); err == nil {
			t.Error("the second start created user other; accounts already existed")
		}
	})
}

// TestServeTLS: with --tls-cert and --tls-key, serve speaks HTTPS with that
// certificate; one flag without the other is a usage error.
func TestServeTLS(t *testing.T) {
	dbURL := storetest.URL(t, store.SQLite)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	certPEM := writeSelfSigned(t, certFile, keyFile)

	if code, _, errs := run(t, dbURL, "serve", "--tls-cert", certFile); code != 2 || !strings.Contains(errs, "--tls-key") {
		t.Errorf("--tls-cert alone: code %d, err %q; want a usage error", code, errs)
	}
	if code, _, errs := run(t, dbURL, "serve", "--tls-cert", keyFile, "--tls-key", keyFile); code != 1 || !strings.Contains(errs, "--tls-cert") {
		t.Errorf("a key as the certificate: code %d, err %q", code, errs)
	}

	s := startServe(t, map[string]string{"DATABASE_URL": dbURL}, "--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.HasPrefix(s.base, "https://127.0.0.1:") {
		t.Fatalf("serve printed %q; want listening on https://127.0.0.1:PORT", s.base)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(certPEM) {
		t.Fatal("bad test certificate")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	res, err := client.Get(s.base + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz over HTTPS: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.TLS == nil {
		t.Fatalf("GET /healthz over HTTPS: %d, TLS %v", res.StatusCode, res.TLS != nil)
	}
	client.CloseIdleConnections()
	// Plain HTTP to the TLS port gets no 200.
	if res, err := http.Get(strings.Replace(s.base, "https://", "http://", 1) + "/healthz"); err == nil {
		res.Body.Close()
		if res.StatusCode == 200 {
			t.Error("plain HTTP answered 200 on the HTTPS port")
		}
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, s.stderr.String())
	}
}

// writeSelfSigned writes a self-signed certificate for 127.0.0.1 and its
// key as PEM files and returns the certificate's PEM.
func writeSelfSigned(t *testing.T, certFile, keyFile string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mlops test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPEM
}
