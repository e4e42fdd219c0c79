package mcpoauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// CleanupBatchSize is how many expired rows one DELETE of CleanupExpired
// removes, so that no statement holds its locks for long.
const CleanupBatchSize = 1000

// DeleteExpiredRateCounts deletes the rate-limit counts of every window
// that ended at or before now, in batches of batchSize rows (1000 when
// batchSize <= 0), and returns how many it deleted. A RateLimiter sweeps
// them as it goes; this catches what it left when traffic stopped.
func (s *Store[U]) DeleteExpiredRateCounts(ctx context.Context, now time.Time, batchSize int) (int64, error) {
	if err := s.ready("delete expired rate counts"); err != nil {
		return 0, err
	}
	n, err := inBatches(ctx, batchSize, func(limit int) (int64, error) {
		return s.storage.DeleteExpiredCounts(ctx, now.UTC(), limit)
	})
	if err != nil {
		return n, fmt.Errorf("mcpoauth: delete expired rate counts: %w", err)
	}
	return n, nil
}

// CleanupExpired is the daily cleanup job: it deletes the pending
// authorization flows that have expired (users who never came back from
// the authorization server) and the counts of rate-limit windows that have
// ended, in batches of CleanupBatchSize, as of the store's clock. It
// returns how many of each it deleted. A failure of one does not stop the
// other; the errors are joined.
func CleanupExpired[U comparable](ctx context.Context, store *Store[U]) (states, counts int64, err error) {
	if err := store.ready("cleanup expired"); err != nil {
		return 0, 0, err
	}
	now := store.Now()
	states, serr := store.DeleteExpiredStates(ctx, now, CleanupBatchSize)
	counts, cerr := store.DeleteExpiredRateCounts(ctx, now, CleanupBatchSize)
	if err := errors.Join(serr, cerr); err != nil {
		return states, counts, fmt.Errorf("mcpoauth: cleanup expired: %w", err)
	}
	return states, counts, nil
}

// RefreshOptions tune Clients.RefreshExpiring. The zero value is the
// default.
type RefreshOptions struct {
	// Within selects the tokens that expire within this long from now.
	// Default: the Clients' RefreshWindow, else DefaultRefreshWindow: the
	// window inside which the token source refreshes too, so the tokens
	// listed are the ones it renews. Already expired tokens are always
	// included.
	Within time.Duration

	// Max bounds how many credentials one run looks at. Default 1000.
	Max int
}

// RefreshReport says what one Clients.RefreshExpiring run did.
type RefreshReport struct {
	Refreshed      int `json:"refreshed"`       // renewed, by this run or by another process just before
	ReauthRequired int `json:"reauth_required"` // refused by the authorization server: user notified
	Skipped        int `json:"skipped"`         // server no longer configured, no refresh token to use, or refused before expiry
	Failed         int `json:"failed"`          // other errors; tried again on the next run
}

// defaultRefreshMax is RefreshOptions.Max when it is not set.
const defaultRefreshMax = 1000

// refreshPage is how many more credentials each query of RefreshExpiring
// reads.
const refreshPage = 100

// RefreshExpiring renews, ahead of time, the tokens of every user that
// expire soon, so background work does not stall on a refresh and refresh
// tokens do not lapse from disuse. Each refresh goes through
// Clients.Refresh, the token source's own path: it takes the credential's
// lock in the storage and skips the refresh when another process has just
// stored a fresh token, so it never races a job or a web request
// presenting the same rotating refresh token. Times are read from the
// Store's clock.
//
// Credentials marked reauth-required are not listed; one the authorization
// server refuses now is marked so by the refresh, and notify told (nil
// notify: a LogNotifier with the Clients' Logger). Credentials of servers
// no longer configured, and those without a refresh token, are skipped:
// nothing is sent anywhere for them. Run it every few minutes, more often
// than the refresh window; a run that fails for some credentials returns
// the errors joined, and the next run tries them again.
func (c *Clients[U]) RefreshExpiring(ctx context.Context, opts *RefreshOptions, notify Notifier[U]) (RefreshReport, error) {
	var report RefreshReport
	switch {
	case c == nil:
		return report, errors.New("mcpoauth: refresh expiring: clients is nil")
	case c.Store == nil:
		return report, errors.New("mcpoauth: refresh expiring: clients has no store")
	case c.Servers == nil:
		return report, errors.New("mcpoauth: refresh expiring: clients has no server registry")
	}
	var o RefreshOptions
	if opts != nil {
		o = *opts
	}
	if o.Within <= 0 {
		o.Within = c.RefreshWindow
	}
	if o.Within <= 0 {
		o.Within = DefaultRefreshWindow
	}
	if o.Max <= 0 {
		o.Max = defaultRefreshMax
	}
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	if notify == nil {
		notify = LogNotifier[U]{Logger: log}
	}
	before := c.Store.Now().Add(o.Within)

	// The list is ordered by expiry and a credential that cannot be
	// renewed stays in it, so each query reads a page more than was seen
	// and works on the new ones only, until Max have been looked at.
	seen := map[int64]bool{}
	var errs []error
	fail := func(err error) (RefreshReport, error) {
		return report, errors.Join(append(errs, fmt.Errorf("mcpoauth: refresh expiring: %w", err))...)
	}
	for limit := refreshPage; len(seen) < o.Max; limit += refreshPage {
		limit = min(limit, o.Max)
		creds, err := c.Store.ListExpiringCredentials(ctx, before, limit)
		if err != nil {
			return fail(err)
		}
		fresh := 0
		for _, cred := range creds {
			if len(seen) >= o.Max {
				break
			}
			if seen[cred.ID] {
				continue
			}
			seen[cred.ID] = true
			fresh++
			if err := ctx.Err(); err != nil {
				return fail(err)
			}
			srv, ok := c.Servers.ByURL(cred.ServerURL)
			if !ok || cred.Token.RefreshToken == "" {
				report.Skipped++
				continue
			}
			_, err := c.Refresh(ctx, cred.UserID, srv.Key)
			switch {
			case err == nil:
				report.Refreshed++
			case errors.Is(err, ErrNotAuthenticated):
				report.Skipped++ // disconnected meanwhile
			case errors.Is(err, errRefusedEarly):
				report.Skipped++ // the token serves until it expires; the run after that decides
			case errors.Is(err, ErrReauthRequired):
				report.ReauthRequired++
				_ = NotifyJobFailure(ctx, notify, log, cred.UserID, srv.Key, err) // logs a failed notification itself
			default:
				report.Failed++
				log.WarnContext(ctx, "mcpoauth: refresh expiring: refresh failed",
					slog.Any("user_id", cred.UserID), slog.String("server", srv.Key), slog.Any("error", err))
				errs = append(errs, fmt.Errorf("user %v, server %s: %w", cred.UserID, srv.Key, err))
			}
		}
		if fresh == 0 || len(creds) < limit || limit >= o.Max {
			break
		}
	}
	if len(errs) > 0 {
		return report, fmt.Errorf("mcpoauth: refresh expiring: %d of %d refreshes failed: %w", report.Failed, len(seen), errors.Join(errs...))
	}
	return report, nil
}

// Notifier tells a user that a background job needs them to act in the
// browser. Implement it with your mailer, in-app notifications or chat;
// NotifyJobFailure and Clients.RefreshExpiring call it once per job that
// could not run, and a failed notification never makes a job retry (its
// error is logged and the job dropped all the same), so enqueue your own
// retrying job from it if a message must not be lost.
type Notifier[U comparable] interface {
	// NotifyAuthRequired: userID never connected serverKey (the key of
	// the Registry, the value of the connect form's server field).
	NotifyAuthRequired(ctx context.Context, userID U, serverKey string) error

	// NotifyReauthRequired: the authorization server refused to renew
	// userID's token for serverKey, or the token lacks a scope the
	// server now wants: the user must reconnect.
	NotifyReauthRequired(ctx context.Context, userID U, serverKey string) error
}

// LogNotifier is the default Notifier: it logs, at warning level, that
// the user must act. It tells nobody; pass a Notifier of your own instead.
type LogNotifier[U comparable] struct {
	Logger *slog.Logger // nil: slog.Default()
}

var _ Notifier[int64] = LogNotifier[int64]{}

func (n LogNotifier[U]) log() *slog.Logger {
	if n.Logger != nil {
		return n.Logger
	}
	return slog.Default()
}

// NotifyAuthRequired logs that the user has to connect the server.
func (n LogNotifier[U]) NotifyAuthRequired(ctx context.Context, userID U, serverKey string) error {
	n.log().WarnContext(ctx, "mcpoauth: user has not connected the MCP server; a job was cancelled",
		slog.Any("user_id", userID), slog.String("server", serverKey))
	return nil
}

// NotifyReauthRequired logs that the user has to reconnect the server.
func (n LogNotifier[U]) NotifyReauthRequired(ctx context.Context, userID U, serverKey string) error {
	n.log().WarnContext(ctx, "mcpoauth: user must reconnect the MCP server; a job was cancelled",
		slog.Any("user_id", userID), slog.String("server", serverKey))
	return nil
}

// ErrPermanent marks a job error that retrying cannot fix: the user has to
// connect or reconnect in the browser first, the server is not
// configured, or the job's arguments are wrong. A job queue should cancel
// such a job instead of retrying it. Test for it with errors.Is; mark an
// error with Permanent.
var ErrPermanent = errors.New("retrying will not help")

// permanentError wraps an error so that errors.Is(err, ErrPermanent) holds
// while the cause (say, ErrNotAuthenticated) still matches.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }

func (e *permanentError) Unwrap() []error { return []error{ErrPermanent, e.err} }

// Permanent marks err as one retrying cannot fix: errors.Is(err,
// ErrPermanent) holds for the result, which keeps err's message and still
// matches err's causes. nil stays nil, and an error already permanent is
// returned as is.
func Permanent(err error) error {
	if err == nil || errors.Is(err, ErrPermanent) {
		return err
	}
	return &permanentError{err}
}

// NotifyJobFailure is what a background job does with the error of
// Clients.For or Clients.Refresh. When err says the user must act it tells
// them through n, NotifyAuthRequired for ErrNotAuthenticated and
// NotifyReauthRequired for ErrReauthRequired or ErrInsufficientScope, and
// returns err marked Permanent; a notification that fails is logged to log
// and its error joined. ErrUnknownServer (a configuration or argument
// error) is returned Permanent without notifying anyone. Any other error,
// nil included, is returned as is, for the job queue to retry. A nil n is
// a LogNotifier logging to log; a nil log is slog.Default().
func NotifyJobFailure[U comparable](ctx context.Context, n Notifier[U], log *slog.Logger, userID U, serverKey string, err error) error {
	if log == nil {
		log = slog.Default()
	}
	if n == nil {
		n = LogNotifier[U]{Logger: log}
	}
	var notify func(context.Context, U, string) error
	switch {
	case errors.Is(err, ErrNotAuthenticated):
		notify = n.NotifyAuthRequired
	case errors.Is(err, ErrReauthRequired), errors.Is(err, ErrInsufficientScope):
		notify = n.NotifyReauthRequired
	case errors.Is(err, ErrUnknownServer):
		return Permanent(err)
	default:
		return err
	}
	if nerr := notify(ctx, userID, serverKey); nerr != nil {
		log.ErrorContext(ctx, "mcpoauth: notifying the user failed",
			slog.Any("user_id", userID), slog.String("server", serverKey), slog.Any("error", nerr))
		err = errors.Join(err, fmt.Errorf("notify: %w", nerr))
	}
	return Permanent(err)
}
