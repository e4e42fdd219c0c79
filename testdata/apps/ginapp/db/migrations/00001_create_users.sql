-- +goose Up
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    login TEXT NOT NULL UNIQUE
);

-- +goose Down
DROP TABLE users;
