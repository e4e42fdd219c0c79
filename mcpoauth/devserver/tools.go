package devserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The tools.
const (
	toolEcho       = "echo"
	toolAdd        = "add"
	toolWhoami     = "whoami"
	toolSleep      = "sleep"
	toolAdminStats = "admin_stats"
)

type echoInput struct {
	Text string `json:"text" jsonschema:"the text to send back"`
}

type sleepInput struct {
	MS int `json:"ms" jsonschema:"how long to wait, in milliseconds, at most 10000"`
}

// maxSleep bounds the sleep tool.
const maxSleep = 10 * time.Second

type addInput struct {
	A float64 `json:"a" jsonschema:"the first number"`
	B float64 `json:"b" jsonschema:"the second number"`
}

type addOutput struct {
	Sum float64 `json:"sum"`
}

// Whoami is what the whoami tool returns, as JSON text and as structured
// content.
type Whoami struct {
	User      string    `json:"user"`
	ClientID  string    `json:"client_id"`
	Scopes    []string  `json:"scopes"`
	Resource  string    `json:"resource"`
	ExpiresAt time.Time `json:"expires_at"`
}

// newMCPServer builds the MCP server and its tools. bound is the token
// that opened an SSE stream, used when a request carries none of its own.
func (s *Server) newMCPServer(bound *auth.TokenInfo) *mcp.Server {
	server := mcp.NewServer(&mcp.Implementation{Name: "mcpgen-dev-server", Title: "mcpgen dev server", Version: "1.0.0"}, &mcp.ServerOptions{
		Instructions: "A test server: echo, add, whoami and sleep need mcp:read; admin_stats also needs mcp:admin.",
	})
	caller := func(req *mcp.CallToolRequest) *auth.TokenInfo {
		if req.Extra != nil && req.Extra.TokenInfo != nil {
			return req.Extra.TokenInfo
		}
		return bound
	}

	mcp.AddTool(server, &mcp.Tool{Name: toolEcho, Description: "Returns its text unchanged."},
		func(_ context.Context, req *mcp.CallToolRequest, in echoInput) (*mcp.CallToolResult, any, error) {
			s.countTool(toolEcho, caller(req))
			return textResult(in.Text), nil, nil
		})
	mcp.AddTool(server, &mcp.Tool{Name: toolAdd, Description: "Adds two numbers."},
		func(_ context.Context, req *mcp.CallToolRequest, in addInput) (*mcp.CallToolResult, addOutput, error) {
			s.countTool(toolAdd, caller(req))
			sum := in.A + in.B
			return textResult(strconv.FormatFloat(sum, 'g', -1, 64)), addOutput{sum}, nil
		})
	mcp.AddTool(server, &mcp.Tool{Name: toolWhoami, Description: "Names the user the access token was issued to, its client and scopes."},
		func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, Whoami, error) {
			info := caller(req)
			s.countTool(toolWhoami, info)
			if info == nil {
				return nil, Whoami{}, errors.New("no token information")
			}
			who := Whoami{User: info.UserID, Scopes: info.Scopes, ExpiresAt: info.Expiration.UTC()}
			who.ClientID, _ = info.Extra[extraClientID].(string)
			who.Resource, _ = info.Extra[extraResource].(string)
			b, err := json.Marshal(who)
			if err != nil {
				return nil, Whoami{}, err
			}
			return textResult(string(b)), who, nil
		})
	mcp.AddTool(server, &mcp.Tool{Name: toolSleep, Description: "Waits ms milliseconds (at most 10000), then answers: a slow tool, for tests of concurrent clients."},
		func(ctx context.Context, req *mcp.CallToolRequest, in sleepInput) (*mcp.CallToolResult, any, error) {
			s.countTool(toolSleep, caller(req))
			d := time.Duration(in.MS) * time.Millisecond
			if in.MS < 0 || d > maxSleep {
				return nil, nil, fmt.Errorf("ms %d is out of range: 0 to %d", in.MS, maxSleep.Milliseconds())
			}
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
			return textResult("slept " + strconv.Itoa(in.MS) + "ms"), nil, nil
		})
	if slices.Contains(s.cfg.Scopes, ScopeAdmin) {
		mcp.AddTool(server, &mcp.Tool{Name: toolAdminStats, Description: "Shows the server's counters. Needs the mcp:admin scope."},
			func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
				info := caller(req)
				// requireToolScopes answered 403 already; this guards the
				// tool should it ever be reached another way.
				if info == nil || !slices.Contains(info.Scopes, ScopeAdmin) {
					return nil, nil, fmt.Errorf("insufficient_scope: %s needs %s", toolAdminStats, ScopeAdmin)
				}
				s.countTool(toolAdminStats, info)
				b, err := json.Marshal(s.Stats())
				if err != nil {
					return nil, nil, err
				}
				return textResult(string(b)), nil, nil
			})
	}
	return server
}

func textResult(text string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}
}

func (s *Server) countTool(name string, info *auth.TokenInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.stats.ToolCalls++
	s.st.stats.ToolCallsByTool[name]++
	if info != nil {
		s.st.stats.ToolCallsByUser[info.UserID]++
	}
}
