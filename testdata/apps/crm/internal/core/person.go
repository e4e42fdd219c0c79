// Package core holds the CRM's records and the queries that load them.
package core

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// Person is someone the team keeps in touch with.
type Person struct {
	ID    uuid.UUID
	Name  string
	Email string
}

// ErrNotFound is returned when no row has the requested ID.
var ErrNotFound = errors.New("core: not found")

// NewPerson returns a person with a fresh random ID, not yet saved.
func NewPerson(name, email string) Person {
	return Person{ID: uuid.New(), Name: name, Email: email}
}

// FindPerson loads the person with the given ID.
func FindPerson(ctx context.Context, db *sql.DB, id uuid.UUID) (*Person, error) {
	p := &Person{}
	err := db.QueryRowContext(ctx, "SELECT id, name, email FROM people WHERE id = $1", id).Scan(&p.ID, &p.Name, &p.Email)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find person %s: %w", id, err)
	}
	return p, nil
}

// CreatePerson saves a new person.
func CreatePerson(ctx context.Context, db *sql.DB, p Person) error {
	if _, err := db.ExecContext(ctx, "INSERT INTO people (id, name, email) VALUES ($1, $2, $3)", p.ID, p.Name, p.Email); err != nil {
		return fmt.Errorf("create person: %w", err)
	}
	return nil
}
