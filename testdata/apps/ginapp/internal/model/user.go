// Package model holds the app's records.
package model

// User is someone with an account.
type User struct {
	ID    int64
	Login string
}
