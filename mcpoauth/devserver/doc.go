// Package devserver is a local MCP server protected by an OAuth 2.1
// authorization server, written for testing MCP clients: `mcpgen dev-server`
// and mcpgen's end-to-end tests run it on loopback.
//
// It is strict on purpose, because its job is to catch client bugs: PKCE
// with S256 only, exact redirect URIs, single-use codes, RFC 8707 resource
// checks, refresh-token rotation with reuse detection that revokes the whole
// token family, RFC 9207 iss on every authorization response, and step-up
// challenges with error="insufficient_scope". Everything lives in memory and
// no token, code or verifier is ever logged. Config.RefreshDelay holds
// refresh grants for a while, so that a test can kill a client in the
// middle of a refresh (Stats.RefreshesInFlight says when one is).
//
// # Endpoints
//
// With the issuer at the root (Config.IssuerPath empty), on one listener:
//
//	/mcp                                          MCP, streamable HTTP (bearer token required)
//	/sse                                          MCP, the 2024-11-05 SSE transport (bearer token required)
//	/.well-known/oauth-protected-resource/mcp     RFC 9728 metadata of /mcp (the 401 challenge points here)
//	/.well-known/oauth-protected-resource/sse     RFC 9728 metadata of /sse
//	/.well-known/oauth-protected-resource         RFC 9728 metadata at the root (resource: the /mcp URL)
//	/.well-known/oauth-authorization-server       RFC 8414 metadata
//	/.well-known/openid-configuration             the same document, for OIDC-style discovery
//	/authorize                                    authorization endpoint (GET), consent page
//	/authorize/consent                            the consent form's POST target
//	/token                                        authorization_code and refresh_token grants
//	/register                                     RFC 7591 dynamic client registration
//	/revoke                                       RFC 7009 revocation
//
// With Config.IssuerPath "/oauth" the issuer is <base>/oauth, its endpoints
// move under /oauth (/oauth/authorize, ...) and its metadata is served only
// where RFC 8414 and OIDC discovery put it for a path issuer:
// /.well-known/oauth-authorization-server/oauth,
// /.well-known/openid-configuration/oauth and
// /oauth/.well-known/openid-configuration. The root locations answer 404, so
// a client that skips path insertion fails as it would in production.
//
// Endpoints for tests in other processes (no authentication; loopback only):
//
//	GET  /_dev/stats        the Stats counters as JSON
//	POST /_dev/stats/reset  zero the counters
//	POST /_dev/expire       expire access tokens now; form or query: user=NAME
//	                        limits it to one user, refresh=1 expires refresh tokens too
//	POST /_dev/revoke       revoke token families as a user revoking access at the
//	                        provider would; user=NAME or family=ID (one is required)
//
// # Identity and scopes
//
// There are no passwords. The consent page has a user name field, filled
// from the login_hint (or user) parameter of the authorization request, else
// Config.DefaultUser; with Config.AutoApprove the same choice is made
// without a page, so multi-user tests pass login_hint=bob.
//
// The scopes are Config.Scopes (default mcp:read, mcp:write, mcp:admin).
// An authorization request without scope gets the default scopes: all but
// mcp:admin. The tools echo, add, whoami and sleep (a slow tool: it waits
// its ms argument, at most 10 s) require mcp:read; admin_stats
// requires mcp:read and mcp:admin, and a token without them is answered
// 403 with WWW-Authenticate: Bearer error="insufficient_scope",
// scope="mcp:read mcp:admin", resource_metadata="...". A 401 challenge
// carries resource_metadata and scope (the default scopes), and
// error="invalid_token" when a token was presented.
package devserver
