// Package users holds the app's users.
package users

// User is someone with an account.
type User struct {
	ID    string
	Email string
	Name  string
}
