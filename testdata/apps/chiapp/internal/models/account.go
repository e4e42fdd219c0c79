// Package models holds the app's records.
package models

// Account is a customer account; people sign in as one.
type Account struct {
	ID    int64
	Email string
	Plan  string
}
