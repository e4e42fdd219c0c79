package devserver

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// resourceMetadataHandler serves the RFC 9728 metadata of the resource at
// resourceURL.
func (s *Server) resourceMetadataHandler(resourceURL string) http.Handler {
	return auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource:               resourceURL,
		AuthorizationServers:   []string{s.urls.Issuer},
		ScopesSupported:        slices.Clone(s.cfg.Scopes),
		BearerMethodsSupported: []string{"header"},
		ResourceName:           "mcpgen dev server",
	})
}

// authServerMetadata is the RFC 8414 document. It is written out here,
// rather than with oauthex.AuthServerMeta, to control exactly which fields
// appear (no empty jwks_uri; S256 can be hidden).
type authServerMetadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	RegistrationEndpoint                       string   `json:"registration_endpoint,omitempty"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	ScopesSupported                            []string `json:"scopes_supported"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported,omitempty"`
	ClientIDMetadataDocumentSupported          bool     `json:"client_id_metadata_document_supported"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
}

func (s *Server) authServerMetadata() authServerMetadata {
	methods := []string{authNone, authBasic, authPost}
	m := authServerMetadata{
		Issuer:                                     s.urls.Issuer,
		AuthorizationEndpoint:                      s.urls.Authorize,
		TokenEndpoint:                              s.urls.Token,
		RegistrationEndpoint:                       s.urls.Register,
		RevocationEndpoint:                         s.urls.Revoke,
		ScopesSupported:                            slices.Clone(s.cfg.Scopes),
		ResponseTypesSupported:                     []string{respCode},
		ResponseModesSupported:                     []string{"query"},
		GrantTypesSupported:                        []string{grantCode, grantRefr},
		TokenEndpointAuthMethodsSupported:          methods,
		RevocationEndpointAuthMethodsSupported:     methods,
		ClientIDMetadataDocumentSupported:          !s.cfg.DisableCIMD,
		AuthorizationResponseIssParameterSupported: true,
	}
	if !s.cfg.HideS256 {
		m.CodeChallengeMethodsSupported = []string{"S256"}
	}
	return m
}

func (s *Server) serveAuthServerMetadata(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	writeJSON(w, http.StatusOK, s.authServerMetadata())
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, "encoding the answer failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
