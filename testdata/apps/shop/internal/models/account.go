package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Account is a business customer that users buy on behalf of.
type Account struct {
	ID   int64
	Name string
}

// FindAccount loads the account with the given ID.
func FindAccount(ctx context.Context, db *sql.DB, id int64) (*Account, error) {
	a := &Account{}
	err := db.QueryRowContext(ctx, "SELECT id, name FROM accounts WHERE id = ?", id).Scan(&a.ID, &a.Name)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find account %d: %w", id, err)
	}
	return a, nil
}
