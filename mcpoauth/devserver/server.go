package devserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server is the dev server: an MCP server and its OAuth 2.1 authorization
// server on one loopback listener. Create it with New, then Start it.
type Server struct {
	cfg  Config
	now  func() time.Time
	dice *faultDice // draws Config.Faults

	mu     sync.Mutex
	st     state
	faults Faults // Config.Faults, until SetFaults

	urls     URLs
	srv      *http.Server
	stop     context.CancelFunc // cancels every request's context
	done     chan struct{}
	serveErr error
	started  bool
	closing  sync.Once
}

// URLs are the server's addresses, known once it has started.
type URLs struct {
	Base   string // http://127.0.0.1:PORT
	MCP    string // the MCP endpoint (streamable HTTP) and the resource of its tokens
	SSE    string // the same tools over the 2024-11-05 SSE transport
	Issuer string // the authorization server's issuer

	ResourceMetadata     string // RFC 9728, path-inserted for MCP: the 401 challenge's resource_metadata
	ResourceMetadataRoot string // RFC 9728 at the root (resource: the MCP URL)
	SSEResourceMetadata  string // RFC 9728, path-inserted for SSE
	AuthServerMetadata   string // RFC 8414, where discovery finds it for Issuer
	OpenIDConfiguration  string // the same document at the OIDC location

	Authorize string
	Token     string
	Register  string // empty with DisableDCR
	Revoke    string

	Stats      string // GET: Stats as JSON
	ResetStats string // POST: zero the counters
	Expire     string // POST: expire access tokens now
	DevRevoke  string // POST: revoke a user's (or one family's) tokens
}

// New checks cfg and returns a server ready to Start.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("devserver: %w", err)
	}
	s := &Server{cfg: cfg, now: time.Now, dice: newFaultDice(cfg.Faults.Seed), faults: cfg.Faults, st: newState(), done: make(chan struct{})}
	for _, c := range cfg.Clients {
		cl := &client{
			id:           c.ID,
			name:         c.Name,
			redirectURIs: append([]string(nil), c.RedirectURIs...),
			grantTypes:   []string{grantCode, grantRefr},
			kind:         kindPreregistered,
			authMethods:  []string{authNone},
		}
		if c.Secret != "" {
			cl.secret = digestOf(c.Secret)
			cl.authMethods = []string{authBasic, authPost}
		}
		s.st.clients[c.ID] = cl
	}
	return s, nil
}

// Start listens on Config.Addr and serves in the background until Close is
// called or ctx is done. The URLs are known when it returns.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("devserver: already started")
	}
	s.started = true
	s.mu.Unlock()

	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		s.mu.Lock()
		s.started = false
		s.mu.Unlock()
		return fmt.Errorf("devserver: listen on %s: %w", s.cfg.Addr, err)
	}
	host, _, _ := net.SplitHostPort(s.cfg.Addr)
	port := ln.Addr().(*net.TCPAddr).Port
	s.urls = s.makeURLs("http://" + net.JoinHostPort(host, strconv.Itoa(port)))

	base, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.srv = &http.Server{
		Handler:           s.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	go func() {
		err := s.srv.Serve(ln)
		if !errors.Is(err, http.ErrServerClosed) {
			s.mu.Lock()
			s.serveErr = err
			s.mu.Unlock()
		}
		close(s.done)
	}()
	go func() {
		select {
		case <-ctx.Done():
			s.Close()
		case <-s.done:
		}
	}()
	return nil
}

// Close stops the server: open streams are ended, requests in flight get a
// few seconds to finish. It is safe to call more than once.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	s.closing.Do(func() {
		s.stop() // ends hanging SSE streams, which Shutdown would wait for
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			s.srv.Close()
		}
	})
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.serveErr
}

// Done is closed when the server, once started, has stopped.
func (s *Server) Done() <-chan struct{} { return s.done }

// URLs returns the server's addresses; they are empty before Start.
func (s *Server) URLs() URLs { return s.urls }

// Config returns the configuration in effect, defaults filled in.
func (s *Server) Config() Config { return s.cfg }

func (s *Server) makeURLs(base string) URLs {
	iss := base + s.cfg.IssuerPath
	u := URLs{
		Base:                 base,
		MCP:                  base + "/mcp",
		SSE:                  base + "/sse",
		Issuer:               iss,
		ResourceMetadata:     base + "/.well-known/oauth-protected-resource/mcp",
		ResourceMetadataRoot: base + "/.well-known/oauth-protected-resource",
		SSEResourceMetadata:  base + "/.well-known/oauth-protected-resource/sse",
		AuthServerMetadata:   base + "/.well-known/oauth-authorization-server" + s.cfg.IssuerPath,
		OpenIDConfiguration:  base + "/.well-known/openid-configuration" + s.cfg.IssuerPath,
		Authorize:            iss + "/authorize",
		Token:                iss + "/token",
		Revoke:               iss + "/revoke",
		Stats:                base + "/_dev/stats",
		ResetStats:           base + "/_dev/stats/reset",
		Expire:               base + "/_dev/expire",
		DevRevoke:            base + "/_dev/revoke",
	}
	if !s.cfg.DisableDCR {
		u.Register = iss + "/register"
	}
	return u
}

// handler routes every endpoint; see the package documentation.
func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	p := s.cfg.IssuerPath
	csrf := http.NewCrossOriginProtection()

	// The protected resources.
	mux.Handle("/mcp", cors(s.mcpHandler(s.urls.MCP)))
	mux.Handle("/sse", cors(s.sseHandler(s.urls.SSE)))
	mux.Handle("/.well-known/oauth-protected-resource/mcp", cors(s.resourceMetadataHandler(s.urls.MCP)))
	mux.Handle("/.well-known/oauth-protected-resource/sse", cors(s.resourceMetadataHandler(s.urls.SSE)))
	mux.Handle("/.well-known/oauth-protected-resource", cors(s.resourceMetadataHandler(s.urls.MCP)))

	// The authorization server.
	asm := cors(http.HandlerFunc(s.serveAuthServerMetadata))
	mux.Handle("/.well-known/oauth-authorization-server"+p, asm)
	mux.Handle("/.well-known/openid-configuration"+p, asm)
	if p != "" {
		mux.Handle(p+"/.well-known/openid-configuration", asm)
	}
	mux.HandleFunc(p+"/authorize", s.serveAuthorize)
	mux.Handle(p+"/authorize/consent", csrf.Handler(http.HandlerFunc(s.serveConsent)))
	mux.Handle(p+"/token", cors(http.HandlerFunc(s.serveToken)))
	mux.Handle(p+"/revoke", cors(http.HandlerFunc(s.serveRevoke)))
	if !s.cfg.DisableDCR {
		mux.Handle(p+"/register", cors(http.HandlerFunc(s.serveRegister)))
	}

	// Test controls.
	mux.Handle("GET /_dev/stats", s.ownHost(http.HandlerFunc(s.serveStats)))
	mux.Handle("POST /_dev/stats/reset", s.ownHost(csrf.Handler(http.HandlerFunc(s.serveResetStats))))
	mux.Handle("POST /_dev/expire", s.ownHost(csrf.Handler(http.HandlerFunc(s.serveExpire))))
	mux.Handle("POST /_dev/revoke", s.ownHost(csrf.Handler(http.HandlerFunc(s.serveDevRevoke))))
	mux.HandleFunc("GET /{$}", s.serveIndex)

	if s.cfg.Log == nil {
		return mux
	}
	return s.logRequests(mux)
}

// ownHost answers 421 Misdirected Request unless the request names this
// server by the host of its base URL or a loopback name: a page of another
// site whose name an attacker points at 127.0.0.1 (DNS rebinding) cannot
// read or drive the test controls.
func (s *Server) ownHost(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if name, _, err := net.SplitHostPort(host); err == nil {
			host = name
		}
		host = strings.Trim(strings.ToLower(host), "[]")
		base, err := url.Parse(s.urls.Base)
		own := err == nil && strings.EqualFold(host, base.Hostname())
		if ip := net.ParseIP(host); !own && host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			http.Error(w, "the dev server's test controls answer requests for its own host only", http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// cors lets browser-based clients (such as the MCP Inspector) use the
// endpoint: any origin, no cookies, and the headers they must read.
func cors(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Expose-Headers", "WWW-Authenticate, Mcp-Session-Id, Mcp-Protocol-Version")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
			w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-ID")
			w.Header().Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// logRequests writes one line per request: method, path and status. The
// query is left out: it can carry codes and state.
func (s *Server) logRequests(h http.Handler) http.Handler {
	var mu sync.Mutex
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		mu.Lock()
		fmt.Fprintf(s.cfg.Log, "devserver: %s %s %d %s\n", r.Method, r.URL.Path, rec.status, time.Since(start).Round(time.Millisecond))
		mu.Unlock()
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
