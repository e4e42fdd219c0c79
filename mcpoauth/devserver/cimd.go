package devserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// maxCIMDBytes bounds a Client ID Metadata Document.
const maxCIMDBytes = 16 << 10

// checkClientIDURL applies the Client ID Metadata Document rules to a URL
// client_id: https (or, when allowed, http on loopback), a path, no
// fragment, user info or dot segments.
func (s *Server) checkClientIDURL(id string) (*url.URL, error) {
	u, err := url.Parse(id)
	if err != nil {
		return nil, fmt.Errorf("client_id URL does not parse: %v", err)
	}
	switch {
	case u.Scheme == "http" && !s.cfg.AllowHTTPCIMD:
		return nil, fmt.Errorf("client_id URL %q uses http: only https is accepted unless http on loopback is allowed (--allow-http-cimd)", id)
	case u.Scheme == "http" && !isLoopbackHost(u.Hostname()):
		return nil, fmt.Errorf("client_id URL %q uses http on a host that is not loopback", id)
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, fmt.Errorf("client_id URL %q must use https", id)
	case u.Hostname() == "":
		return nil, fmt.Errorf("client_id URL %q has no host", id)
	case u.User != nil:
		return nil, fmt.Errorf("client_id URL %q must not contain user info", id)
	case strings.Contains(id, "#"):
		return nil, fmt.Errorf("client_id URL %q must not contain a fragment", id)
	case u.Path == "" || u.Path == "/":
		return nil, fmt.Errorf("client_id URL %q must have a path", id)
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return nil, fmt.Errorf("client_id URL %q must not contain . or .. segments", id)
		}
	}
	return u, nil
}

// fetchClientMetadata GETs and checks the metadata document of a URL
// client_id.
func (s *Server) fetchClientMetadata(ctx context.Context, id string) (*client, error) {
	u, err := s.checkClientIDURL(id)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("client metadata document %s: %v", id, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching the client metadata document %s: %v", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching the client metadata document %s: status %s (redirects are not followed)", id, resp.Status)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return nil, fmt.Errorf("client metadata document %s: Content-Type is %q, want application/json", id, resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCIMDBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the client metadata document %s: %v", id, err)
	}
	if len(body) > maxCIMDBytes {
		return nil, fmt.Errorf("client metadata document %s is larger than %d bytes", id, maxCIMDBytes)
	}

	var doc struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		clientMetadata
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("client metadata document %s is not a JSON object: %v", id, err)
	}
	switch {
	case doc.ClientID != id:
		return nil, fmt.Errorf("client metadata document %s: its client_id %q is not the URL it was fetched from", id, doc.ClientID)
	case doc.ClientName == "":
		return nil, fmt.Errorf("client metadata document %s: client_name is required", id)
	case doc.ClientSecret != "":
		return nil, fmt.Errorf("client metadata document %s must not contain a client_secret", id)
	}
	if doc.TokenEndpointAuthMethod == "" {
		doc.TokenEndpointAuthMethod = authNone
	}
	if e := s.validateMetadata(&doc.clientMetadata, []string{authNone}); e != nil {
		if strings.HasPrefix(e.Description, "token_endpoint_auth_method") {
			return nil, fmt.Errorf("client metadata document %s: token_endpoint_auth_method must be none (a document cannot hold a shared secret)", id)
		}
		return nil, fmt.Errorf("client metadata document %s: %s", id, e.Description)
	}
	return &client{
		id:           id,
		name:         doc.ClientName,
		redirectURIs: slices.Clone(doc.RedirectURIs),
		grantTypes:   slices.Clone(doc.GrantTypes),
		scopes:       strings.Fields(doc.Scope),
		kind:         kindCIMD,
		authMethods:  []string{authNone},
	}, nil
}
