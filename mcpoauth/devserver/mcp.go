package devserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Keys of auth.TokenInfo.Extra set by the verifier.
const (
	extraClientID = "client_id"
	extraFamily   = "family"
	extraResource = "resource"
)

// verifier checks bearer tokens for the resource at resourceURL: known,
// not revoked (nor its family), not expired, and issued for this resource.
func (s *Server) verifier(resourceURL string) auth.TokenVerifier {
	return func(_ context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
		now := s.now()
		s.mu.Lock()
		defer s.mu.Unlock()
		t := s.st.access[digestOf(token)]
		switch {
		case t == nil:
			return nil, fmt.Errorf("%w: unknown access token", auth.ErrInvalidToken)
		case t.revoked || t.family.revoked != "":
			return nil, fmt.Errorf("%w: access token revoked", auth.ErrInvalidToken)
		case !now.Before(t.expires):
			return nil, fmt.Errorf("%w: access token expired", auth.ErrInvalidToken)
		case t.family.resource != resourceURL:
			return nil, fmt.Errorf("%w: access token was issued for %s, not %s", auth.ErrInvalidToken, t.family.resource, resourceURL)
		}
		return &auth.TokenInfo{
			Scopes:     slices.Clone(t.scopes),
			Expiration: t.expires,
			UserID:     t.family.user,
			Extra: map[string]any{
				extraClientID: t.family.clientID,
				extraFamily:   t.family.id,
				extraResource: t.family.resource,
			},
		}, nil
	}
}

// protect wraps an MCP transport handler for the resource at resourceURL:
// no tokens in the URL, bearer token required (401 with our challenge),
// then per-tool scopes (403 insufficient_scope).
func (s *Server) protect(resourceURL, metadataURL string, h http.Handler) http.Handler {
	bearer := auth.RequireBearerToken(s.verifier(resourceURL), &auth.RequireBearerTokenOptions{
		ResourceMetadataURL: metadataURL,
	})(s.requireToolScopes(metadataURL, h))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("access_token") {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="invalid_request", error_description="send the token in the Authorization header, never in the URL", resource_metadata=%q`, metadataURL))
			http.Error(w, "access_token in the URL is refused: use the Authorization header", http.StatusBadRequest)
			return
		}
		bearer.ServeHTTP(&challengeWriter{ResponseWriter: w, s: s, r: r, metadataURL: metadataURL}, r)
	})
}

// challengeWriter completes the 401 challenge of auth.RequireBearerToken:
// it adds the default scopes, and error="invalid_token" when a token was
// presented (RFC 6750 §3.1), keeping resource_metadata.
type challengeWriter struct {
	http.ResponseWriter
	s           *Server
	r           *http.Request
	metadataURL string
	wrote       bool
}

func (w *challengeWriter) WriteHeader(code int) {
	if !w.wrote && code == http.StatusUnauthorized {
		params := []string{}
		if f := strings.Fields(w.r.Header.Get("Authorization")); len(f) == 2 && strings.EqualFold(f[0], "bearer") {
			params = append(params, `error="invalid_token"`)
		}
		params = append(params,
			fmt.Sprintf("resource_metadata=%q", w.metadataURL),
			fmt.Sprintf("scope=%q", joinScopes(w.s.cfg.ChallengeScopes())))
		w.Header().Set("WWW-Authenticate", "Bearer "+strings.Join(params, ", "))
		w.s.mu.Lock()
		w.s.st.stats.Unauthorized++
		w.s.mu.Unlock()
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *challengeWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *challengeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// toolScopes are the scopes a tool needs, among the supported ones.
func (s *Server) toolScopes(tool string) []string {
	need := []string{ScopeRead}
	if tool == toolAdminStats {
		need = append(need, ScopeAdmin)
	}
	var out []string
	for _, sc := range need {
		if slices.Contains(s.cfg.Scopes, sc) {
			out = append(out, sc)
		}
	}
	return out
}

// maxPeekBytes bounds how much of a request body requireToolScopes reads;
// the SDK refuses larger bodies itself.
const maxPeekBytes = mcp.DefaultMaxRequestBodyBytes

// requireToolScopes reads the JSON-RPC messages of a POST and answers 403
// insufficient_scope, with the scopes needed, to a tools/call the token's
// scopes do not cover. The SDK's own 403 lacks error="insufficient_scope",
// which clients need to start step-up authorization.
func (s *Server) requireToolScopes(metadataURL string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Body == nil {
			h.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxPeekBytes+1))
		if err != nil {
			http.Error(w, "reading the request failed", http.StatusBadRequest)
			return
		}
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}

		info := auth.TokenInfoFromContext(r.Context())
		if info == nil {
			h.ServeHTTP(w, r)
			return
		}
		for _, call := range toolCalls(body) {
			need := s.toolScopes(call.name)
			var missing []string
			for _, sc := range need {
				if !slices.Contains(info.Scopes, sc) {
					missing = append(missing, sc)
				}
			}
			if len(missing) == 0 {
				continue
			}
			s.mu.Lock()
			s.st.stats.InsufficientScope++
			s.mu.Unlock()
			desc := fmt.Sprintf("the tool %s needs the scopes %s; the token lacks %s", call.name, joinScopes(need), joinScopes(missing))
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="insufficient_scope", scope=%q, resource_metadata=%q, error_description=%q`, joinScopes(need), metadataURL, desc))
			// A JSON-RPC error body lets the SDK client surface the error
			// and keep its session.
			writeJSON(w, http.StatusForbidden, map[string]any{
				"jsonrpc": "2.0",
				"id":      call.id,
				"error":   map[string]any{"code": -32001, "message": "insufficient_scope: " + desc},
			})
			return
		}
		h.ServeHTTP(w, r)
	})
}

type toolCall struct {
	id   json.RawMessage
	name string
}

// toolCalls returns the tools/call requests in a JSON-RPC message or batch.
// Anything that does not parse is left for the SDK to refuse.
func toolCalls(body []byte) []toolCall {
	type message struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			Name string `json:"name"`
		} `json:"params"`
	}
	var msgs []message
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if json.Unmarshal(trimmed, &msgs) != nil {
			return nil
		}
	} else {
		var m message
		if json.Unmarshal(trimmed, &m) != nil {
			return nil
		}
		msgs = []message{m}
	}
	var out []toolCall
	for _, m := range msgs {
		if m.Method == "tools/call" {
			id := m.ID
			if len(id) == 0 {
				id = json.RawMessage("null")
			}
			out = append(out, toolCall{id, m.Params.Name})
		}
	}
	return out
}

// mcpHandler serves MCP over streamable HTTP. One mcp.Server serves every
// session; tools read the caller from each request's token.
func (s *Server) mcpHandler(resourceURL string) http.Handler {
	server := s.newMCPServer(nil)
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, &mcp.StreamableHTTPOptions{
		SessionTimeout: 30 * time.Minute,
	})
	return s.protect(resourceURL, s.urls.ResourceMetadata, h)
}

// sseHandler serves MCP over the 2024-11-05 SSE transport. Its messages
// carry no token information to the tools, so each stream gets its own
// mcp.Server bound to the token that opened it, and a message with another
// user's token is refused.
func (s *Server) sseHandler(resourceURL string) http.Handler {
	var mu sync.Mutex
	users := map[string]string{} // session id -> user
	sse := mcp.NewSSEHandler(func(r *http.Request) *mcp.Server {
		return s.newMCPServer(auth.TokenInfoFromContext(r.Context()))
	}, nil)
	guard := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := auth.TokenInfoFromContext(r.Context())
		if r.Method == http.MethodPost {
			mu.Lock()
			user, known := users[r.URL.Query().Get("sessionid")]
			mu.Unlock()
			if known && (info == nil || info.UserID != user) {
				http.Error(w, "session user mismatch: the token belongs to another user than the one who opened the stream", http.StatusForbidden)
				return
			}
			sse.ServeHTTP(w, r)
			return
		}
		sw := &sessionSniffer{ResponseWriter: w}
		defer func() {
			if sw.id != "" {
				mu.Lock()
				delete(users, sw.id)
				mu.Unlock()
			}
		}()
		sw.found = func(id string) {
			if info != nil {
				mu.Lock()
				users[id] = info.UserID
				mu.Unlock()
			}
		}
		sse.ServeHTTP(sw, r)
	})
	return s.protect(resourceURL, s.urls.SSEResourceMetadata, guard)
}

// sessionSniffer reads the session id from the SSE endpoint event, the
// first thing the SDK writes on a new stream.
type sessionSniffer struct {
	http.ResponseWriter
	id    string
	found func(string)
	done  bool
}

func (w *sessionSniffer) Write(b []byte) (int, error) {
	if !w.done {
		w.done = true
		if _, rest, ok := bytes.Cut(b, []byte("sessionid=")); ok {
			end := bytes.IndexAny(rest, "&\r\n \"")
			if end < 0 {
				end = len(rest)
			}
			w.id = string(rest[:end])
			w.found(w.id)
		}
	}
	return w.ResponseWriter.Write(b)
}

func (w *sessionSniffer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
