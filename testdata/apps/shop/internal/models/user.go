// Package models holds the shop's database records and the queries that
// load them.
package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// User is a customer who can sign in to the shop.
type User struct {
	ID    int64
	Email string
}

// ErrNotFound is returned when no row has the requested ID.
var ErrNotFound = errors.New("models: not found")

// FindUser loads the user with the given ID.
func FindUser(ctx context.Context, db *sql.DB, id int64) (*User, error) {
	u := &User{}
	err := db.QueryRowContext(ctx, "SELECT id, email FROM users WHERE id = ?", id).Scan(&u.ID, &u.Email)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find user %d: %w", id, err)
	}
	return u, nil
}
