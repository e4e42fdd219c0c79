// Package mcpoauth is the runtime of apps scaffolded by `mcpgen oauth
// install`: it lets each user of a web app connect their own account on a
// remote MCP server with OAuth 2.1, and lets the app's background jobs
// call that server's tools as the user, with the user's stored token,
// encrypted at rest and refreshed one worker at a time.
//
// What is the same in every app lives here, versioned with mcpgen, so a
// protocol fix reaches an app with `go get`; what varies per app (its
// tables, user ID type, routes, views and jobs) is generated into the app,
// small and the app's to edit. U is always the app's user ID type.
//
// # Storage
//
// The runtime talks to the database through Storage: small interfaces
// for credentials, pending flows, registered clients and rate counts, and
// one lock primitive (CredentialStorage.UpdateCredentialLocked). The
// generated SQL store implements them for SQLite, PostgreSQL or MySQL;
// MemoryStorage implements them in memory; any other implementation
// proves itself with storagetest.TestStorage.
//
// A Store wraps a Storage with a Keyring (AES-256-GCM, key rotation:
// the first key seals, every key opens). Tokens, client secrets and PKCE
// verifiers are sealed before they reach the Storage, each ciphertext
// bound to its row by its additional data. Printing or logging a Token,
// ClientInfo, Credential or State redacts its secrets.
//
// # Connecting and calling tools
//
// A Registry lists the MCP servers users may connect to; no other server
// is ever contacted. A Flow runs the browser side: Start discovers the
// server's authorization server (RFC 9728, RFC 8414) in the order the MCP
// specification gives, refuses one without PKCE S256, identifies the app
// (pre-registered client, Client ID Metadata Document, or dynamic
// registration, RFC 7591) and returns the authorization URL; Complete
// checks the state and iss (RFC 9207) and exchanges the code, with the
// resource (RFC 8707), for the credential. Disconnect revokes (RFC 7009).
//
// Clients is the background side: Clients.For returns an MCP client
// session acting as the user. Its token is refreshed ahead of expiry under
// the storage's lock, re-read under the lock so that a token another
// process has just refreshed is used, not refreshed again, and coalesced
// among the callers of one process; a refused refresh (invalid_grant)
// marks the credential reauth-required. Errors wrap ErrNotAuthenticated
// or ErrReauthRequired when the user must connect (again) in the browser,
// or are an *InsufficientScopeError when the server wants a wider scope.
//
// RateLimiter counts requests per user in the Storage, so that every
// process of the app shares the limits.
//
// The package devserver beside this one is a strict MCP server and
// authorization server on loopback for tests and local development.
package mcpoauth
