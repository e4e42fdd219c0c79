package devserver

import (
	"maps"
	"slices"
	"strings"
	"time"
)

// Stats are the counters tests assert on. Server.Stats returns a copy;
// GET /_dev/stats serves the same as JSON.
type Stats struct {
	Registrations int `json:"registrations"` // successful dynamic client registrations
	CIMDFetches   int `json:"cimd_fetches"`  // Client ID Metadata Documents fetched (cache misses)

	AuthorizeErrors int `json:"authorize_errors"` // authorization requests refused, redirected or shown
	Approvals       int `json:"approvals"`        // codes issued, by the form or auto-approval
	Denials         int `json:"denials"`          // Deny pressed: access_denied

	CodeExchanges   int            `json:"code_exchanges"`    // codes exchanged for tokens
	TokensIssued    int            `json:"tokens_issued"`     // access tokens issued, by both grants
	Refreshes       int            `json:"refreshes"`         // successful refresh_token grants
	RefreshesByUser map[string]int `json:"refreshes_by_user"` // the same, by user
	TokenErrors     map[string]int `json:"token_errors"`      // /token and /revoke error answers, by error code
	InvalidGrants   int            `json:"invalid_grants"`    // token_errors["invalid_grant"]
	ReuseDetections int            `json:"reuse_detections"`  // replayed refresh tokens or codes; each revokes its family
	MissingResource int            `json:"missing_resource"`  // authorization or token requests without resource

	// Config.Faults and Config.RefreshGrace at work.
	FaultsInjected map[string]int `json:"faults_injected"` // by kind: Fault*
	GraceRefreshes int            `json:"grace_refreshes"` // rotated refresh tokens presented again within the grace period and honoured

	// The refresh_token grants as they arrive, for tests of concurrent
	// clients. RefreshesInFlight is a gauge, not a counter: the grants
	// being answered now; with Config.RefreshDelay, a client is in the
	// middle of a refresh while it is above zero.
	RefreshRequests    int `json:"refresh_requests"`    // grants of authenticated clients, whatever their outcome
	RefreshesInFlight  int `json:"refreshes_in_flight"` // grants being answered now
	RefreshesAbandoned int `json:"refreshes_abandoned"` // client gone during Config.RefreshDelay: answered 503, nothing rotated

	Revocations     int `json:"revocations"`      // known tokens revoked at /revoke
	FamiliesRevoked int `json:"families_revoked"` // by reuse, /revoke of a refresh token, or /_dev/revoke

	ToolCalls         int            `json:"tool_calls"`
	ToolCallsByTool   map[string]int `json:"tool_calls_by_tool"`
	ToolCallsByUser   map[string]int `json:"tool_calls_by_user"`
	Unauthorized      int            `json:"unauthorized"`       // 401 answers at /mcp and /sse
	InsufficientScope int            `json:"insufficient_scope"` // 403 step-up challenges

	// Families lists every token family (one per authorization), oldest first.
	Families []FamilyStats `json:"families"`
}

// FamilyStats describes one token family.
type FamilyStats struct {
	ID        string    `json:"id"`
	User      string    `json:"user"`
	ClientID  string    `json:"client_id"`
	Scopes    []string  `json:"scopes"`
	Resource  string    `json:"resource"`
	Created   time.Time `json:"created"`
	Refreshes int       `json:"refreshes"`
	// RefreshedAt holds when each of those refreshes succeeded, oldest
	// first: the gaps between them are the lifetimes the client used.
	RefreshedAt []time.Time `json:"refreshed_at"`
	Revoked     bool        `json:"revoked"`
	// RevokedReason is "refresh_token_reuse", "code_reuse", "revoked" (at
	// /revoke) or "dev_revoke" (at /_dev/revoke).
	RevokedReason string `json:"revoked_reason,omitempty"`
}

// Reasons a family is revoked.
const (
	revokedReuse     = "refresh_token_reuse"
	revokedCodeReuse = "code_reuse"
	revokedByClient  = "revoked"
	revokedByDev     = "dev_revoke"
)

func newStats() Stats {
	return Stats{
		RefreshesByUser: map[string]int{},
		TokenErrors:     map[string]int{},
		ToolCallsByTool: map[string]int{},
		ToolCallsByUser: map[string]int{},
		FaultsInjected:  map[string]int{},
	}
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.st.stats
	out.RefreshesByUser = maps.Clone(out.RefreshesByUser)
	out.TokenErrors = maps.Clone(out.TokenErrors)
	out.ToolCallsByTool = maps.Clone(out.ToolCallsByTool)
	out.ToolCallsByUser = maps.Clone(out.ToolCallsByUser)
	out.FaultsInjected = maps.Clone(out.FaultsInjected)
	out.Families = []FamilyStats{}
	for _, f := range s.st.families {
		out.Families = append(out.Families, FamilyStats{
			ID: f.id, User: f.user, ClientID: f.clientID, Scopes: slices.Clone(f.scopes),
			Resource: f.resource, Created: f.created, Refreshes: f.refreshes, RefreshedAt: slices.Clone(f.refreshed),
			Revoked: f.revoked != "", RevokedReason: f.revoked,
		})
	}
	slices.SortFunc(out.Families, func(a, b FamilyStats) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// ResetStats zeroes the counters, the families' refresh counts included.
// Families and tokens stay, and so does the RefreshesInFlight gauge.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	inFlight := s.st.stats.RefreshesInFlight
	s.st.stats = newStats()
	s.st.stats.RefreshesInFlight = inFlight
	for _, f := range s.st.families {
		f.refreshes = 0
		f.refreshed = nil
	}
}
